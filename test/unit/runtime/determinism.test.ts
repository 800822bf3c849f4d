import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { cartridgeBytes, sha256, trajectoryBytes } from "./trajectory.js";

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL("./trajectory.ts", import.meta.url));
const BUNDLED = ["tictactoe-v1", "connect4-v1", "pendulum-v1"].map((name) =>
  fileURLToPath(new URL(`../../../build/cartridges/${name}.wasm`, import.meta.url)),
);

/** Hash of the trajectory computed by a separate Node process. */
async function hashInChildProcess(name: string, seed: bigint): Promise<string> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", SCRIPT, name, String(seed)], {
    timeout: 60_000,
  });
  return stdout.trim();
}

function requireBundled(path: string): string {
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: build the cartridges first (npm run build)`);
  }
  return path;
}

describe("determinism: same seed, same bytes", () => {
  it("on two engines in one process, for the counter cartridge", async () => {
    const bytes = await cartridgeBytes("counter");
    const a = await trajectoryBytes(bytes, 42n);
    const b = await trajectoryBytes(bytes, 42n);
    expect(a.byteLength).toBeGreaterThan(1000);
    expect(sha256(a)).toBe(sha256(b));
  });

  it("in two separate processes, for the counter and a bundled cartridge", async () => {
    const tictactoe = requireBundled(BUNDLED[0] as string);
    for (const name of ["counter", tictactoe]) {
      const local = sha256(await trajectoryBytes(await cartridgeBytes(name), 7n));
      const [first, second] = await Promise.all([
        hashInChildProcess(name, 7n),
        hashInChildProcess(name, 7n),
      ]);
      expect(first).toBe(local);
      expect(second).toBe(local);
    }
  });

  it.each(BUNDLED)("for the bundled cartridge %s on two engines", async (path) => {
    const bytes = await cartridgeBytes(requireBundled(path));
    expect(sha256(await trajectoryBytes(bytes, 3n))).toBe(sha256(await trajectoryBytes(bytes, 3n)));
  });

  it("different seeds give different trajectories for the stochastic pendulum", async () => {
    const bytes = await cartridgeBytes(requireBundled(BUNDLED[2] as string));
    const hashes = new Set<string>();
    for (const seed of [1n, 2n, 3n]) hashes.add(sha256(await trajectoryBytes(bytes, seed, 50)));
    expect(hashes.size).toBe(3);
  });
});
