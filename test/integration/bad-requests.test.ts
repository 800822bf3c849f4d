import { Client, credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, rejection, startHarness } from "./harness.js";

/** Requests a hostile or broken client may send: each gets a short, typed answer. */
describe("bad requests over the wire", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h.close();
  });

  it("answers a 200 KB env id with a short NOT_FOUND and keeps the channel usable", async () => {
    const hugeId = "x".repeat(200 * 1024);
    const unknown = await rejection(h.client.capabilities(hugeId, "", { timeoutMs: 10_000 }));
    expect(unknown.code).toBe(status.NOT_FOUND);
    expect(unknown.errorCode).toBe("UnknownEnv");
    expect(unknown.message.length).toBeLessThan(4096);
    expect(unknown.message).toContain("more chars");
    const reset = await rejection(h.client.reset(hugeId, 1, { timeoutMs: 10_000 }));
    expect(reset.code).toBe(status.NOT_FOUND);
    expect(reset.message.length).toBeLessThan(4096);
    // The next call on the same client and channel works.
    const caps = await h.client.capabilities("tictactoe-v1", "", { timeoutMs: 10_000 });
    expect(caps.id?.envId).toBe("tictactoe-v1");
  });

  it("bounds a message in bytes, for ids of multi-byte characters", async () => {
    const wideId = "é😀".repeat(8000);
    const unknown = await rejection(h.client.capabilities(wideId, "", { timeoutMs: 10_000 }));
    expect(unknown.code).toBe(status.NOT_FOUND);
    expect(Buffer.byteLength(unknown.message)).toBeLessThanOrEqual(2048);
    expect(unknown.message).not.toContain("\uFFFD");
    const caps = await h.client.capabilities("tictactoe-v1", "", { timeoutMs: 10_000 });
    expect(caps.id?.envId).toBe("tictactoe-v1");
  });

  it("bounds an echoed build id too", async () => {
    const hugeBuild = "b".repeat(200 * 1024);
    const unknown = await rejection(
      h.client.capabilities("tictactoe-v1", hugeBuild, { timeoutMs: 10_000 }),
    );
    expect(unknown.code).toBe(status.NOT_FOUND);
    expect(unknown.errorCode).toBe("UnknownBuild");
    expect(unknown.message.length).toBeLessThan(4096);
    const caps = await h.client.capabilities("tictactoe-v1", "", { timeoutMs: 10_000 });
    expect(caps.id?.envId).toBe("tictactoe-v1");
  });

  it("answers bytes that do not decode with INVALID_ARGUMENT / BadRequest, not INTERNAL", async () => {
    const raw = new Client(h.server.address, credentials.createInsecure());
    try {
      // Field 1 (id), length-delimited, claiming 100 bytes where 2 follow.
      const garbage = Buffer.from([0x0a, 0x64, 0x01, 0x02]);
      const answer = await new Promise<{ error: ServiceError | null }>((resolve) => {
        raw.makeUnaryRequest(
          "/engine.v1.Engine/Step",
          (bytes: Buffer) => bytes,
          (bytes: Buffer) => bytes,
          garbage,
          new Metadata(),
          { deadline: Date.now() + 10_000 },
          (error) => resolve({ error }),
        );
      });
      expect(answer.error?.code).toBe(status.INVALID_ARGUMENT);
      expect(answer.error?.details).toContain("not a valid");
      expect(answer.error?.metadata.get("cartridge-error-code")).toEqual(["BadRequest"]);
    } finally {
      raw.close();
    }
    // The server still answers well-formed requests.
    const caps = await h.client.capabilities("tictactoe-v1", "", { timeoutMs: 10_000 });
    expect(caps.id?.envId).toBe("tictactoe-v1");
  });

  it("answers a BatchSimulate stream whose request does not decode the same way", async () => {
    const raw = new Client(h.server.address, credentials.createInsecure());
    try {
      const garbage = Buffer.from([0x0a, 0x64, 0x01, 0x02]);
      const error = await new Promise<ServiceError>((resolve, reject) => {
        const call = raw.makeServerStreamRequest(
          "/engine.v1.Engine/BatchSimulate",
          (bytes: Buffer) => bytes,
          (bytes: Buffer) => bytes,
          garbage,
          new Metadata(),
          { deadline: Date.now() + 10_000 },
        );
        call.on("data", () => reject(new Error("a malformed request produced data")));
        call.on("error", (e: ServiceError) => resolve(e));
        call.on("end", () => reject(new Error("a malformed request ended without an error")));
      });
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.metadata.get("cartridge-error-code")).toEqual(["BadRequest"]);
    } finally {
      raw.close();
    }
  });
});
