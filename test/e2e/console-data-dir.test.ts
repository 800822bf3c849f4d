import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineClient } from "../../host/client/index.js";
import { bundledCartridge, kill, legalAction, NodeClients, serve } from "./console-harness.js";

const CLI = fileURLToPath(new URL("../../dist/host/cli/main.js", import.meta.url));
const run = promisify(execFile);

/** `cartridge serve --data-dir DIR` (no config): the embedded single-node engine over a WAL. */
describe("a single node with --data-dir", { timeout: 120_000 }, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "cartridge-data-dir-"));
    await mkdir(join(dir, "cartridges"));
    await cp(bundledCartridge("connect4-v1"), join(dir, "cartridges", "connect4-v1.wasm"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("keeps its sessions and deployed builds across a SIGKILL and a restart", async () => {
    const args = ["--data-dir", join(dir, "data"), "--cartridges", join(dir, "cartridges")];
    const first = await serve(CLI, args);
    const client = await EngineClient.connect(first.address);
    const session = await client.session("connect4-v1", { seed: 7 });
    let last = session.first.last;
    for (let i = 0; i < 3 && last !== undefined; i++) {
      last = await session.step(legalAction(last.legalMask, i));
    }
    const before = await session.get();
    client.close();
    const { stdout } = await run(process.execPath, [
      CLI,
      "deploy",
      bundledCartridge("tictactoe-v1"),
      "--endpoints",
      first.address,
    ]);
    const deployedBuild = /build ([0-9a-f]{64})/.exec(stdout)?.[1];
    expect(deployedBuild).toBeDefined();
    await kill(first.child);

    const second = await serve(CLI, args);
    const node = new NodeClients(second.address);
    const again = await EngineClient.connect(second.address);
    try {
      const { session: held } = await node.getSession(session.id, 0n);
      expect(held?.step).toBe(3n);
      expect(Buffer.from(held?.state ?? []).equals(before.state)).toBe(true);
      const { builds } = await node.listBuilds(0n);
      expect(builds.map((b) => [b.envId, b.current])).toEqual([
        ["connect4-v1", true],
        ["tictactoe-v1", true],
      ]);
      expect(builds.find((b) => b.envId === "tictactoe-v1")?.buildId).toBe(deployedBuild);
      // The deployed build is served, and the session goes on where it was.
      expect((await again.listEnvs()).map((caps) => caps.id?.envId)).toContain("tictactoe-v1");
      const attached = await again.attachSession(session.id);
      const next = await attached.step(legalAction(held?.last?.legalMask ?? Buffer.alloc(0), 0));
      expect(next.step).toBe(4);
    } finally {
      again.close();
      node.close();
      await kill(second.child);
    }
  });
});
