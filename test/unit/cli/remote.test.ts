import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { endpointList, remoteCredentials } from "../../../host/cli/remote.js";

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
