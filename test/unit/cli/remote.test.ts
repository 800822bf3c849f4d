import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callLeader, endpointList, remoteCredentials } from "../../../host/cli/remote.js";

function serviceError(code: status, leaderAddress?: string): ServiceError {
  const metadata = new Metadata();
  if (leaderAddress !== undefined) metadata.set("cartridge-leader-address", leaderAddress);
  return Object.assign(new Error(status[code]), { code, details: status[code], metadata });
}

describe("callLeader", () => {
  it("follows a refusal that names the leader, and moves on from an unreachable node", async () => {
    const asked: string[] = [];
    const answer = await callLeader(
      ["a:1", "b:2", "c:3"],
      async (address) => {
        asked.push(address);
        if (address === "a:1") throw serviceError(status.UNAVAILABLE); // down
        if (address === "b:2") throw serviceError(status.UNAVAILABLE, "c:3"); // a follower
        return `answer from ${address}`;
      },
      { totalTimeoutMs: 10_000, retryDelayMs: 0 },
    );
    expect(answer).toBe("answer from c:3");
    expect(asked).toEqual(["a:1", "b:2", "c:3"]);
  });

  it("throws a definite refusal at once, and the last error when the time is up", async () => {
    let calls = 0;
    const denied = callLeader(
      ["a:1", "b:2"],
      async () => {
        calls += 1;
        throw serviceError(status.PERMISSION_DENIED);
      },
      { totalTimeoutMs: 10_000, retryDelayMs: 0 },
    );
    await expect(denied).rejects.toMatchObject({ code: status.PERMISSION_DENIED });
    expect(calls).toBe(1);
    const never = callLeader(
      ["a:1"],
      async () => {
        throw serviceError(status.UNAVAILABLE);
      },
      { totalTimeoutMs: 0, retryDelayMs: 0 },
    );
    await expect(never).rejects.toMatchObject({ code: status.UNAVAILABLE });
  });
});

describe("the remote flags", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "cartridge-remote-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("parses endpoints and refuses what is not HOST:PORT", () => {
    expect(endpointList("127.0.0.1:1, [::1]:2,")).toEqual(["127.0.0.1:1", "[::1]:2"]);
    expect(() => endpointList("nohost")).toThrow(/not HOST:PORT/);
    expect(() => endpointList("")).toThrow(/expected 1 to 15/);
  });

  it("reads a token from a file or the environment, and TLS files when asked", async () => {
    const tokenFile = join(dir, "token");
    await writeFile(tokenFile, "abc123\n");
    await writeFile(join(dir, "ca.crt"), "PEM");
    expect(await remoteCredentials({ endpoints: [], tokenFile }, {})).toEqual({
      token: "abc123",
      tls: undefined,
    });
    expect(await remoteCredentials({ endpoints: [] }, { CARTRIDGE_TOKEN: "xyz" })).toEqual({
      token: "xyz",
      tls: undefined,
    });
    const withCa = await remoteCredentials({ endpoints: [], tlsCa: join(dir, "ca.crt") }, {});
    expect(Buffer.from(withCa.tls?.ca ?? []).toString()).toBe("PEM");
    await expect(remoteCredentials({ endpoints: [], tlsCert: "x" }, {})).rejects.toThrow(
      /go together/,
    );
    await writeFile(tokenFile, "two words");
    await expect(remoteCredentials({ endpoints: [], tokenFile }, {})).rejects.toThrow(/one token/);
  });
});
