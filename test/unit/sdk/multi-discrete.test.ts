import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCartridge } from "../../../host/cli/build.js";
import { CallError, type CartridgeEngine, createEngine } from "../../../host/runtime/index.js";

/**
 * The SDK's multi-discrete path (mask slices per dimension, an independent uniform choice per
 * dimension in rollouts), on the test-only "dials" cartridge in assembly/dials: an assembly folder,
 * so that tsc and Biome skip the entry file the build generates there.
 */

const env = { envId: "dials-v1" };
const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), "assembly", "dials");
let engine: CartridgeEngine;
let outDir: string;

beforeAll(async () => {
  outDir = await mkdtemp(path.join(tmpdir(), "cartridge-dials-"));
  const outFile = path.join(outDir, "dials-v1.wasm");
  await buildCartridge(fixture, outFile, { debug: true, force: true, log: () => {} });
  const created = createEngine();
  await created.registry.register(await readFile(outFile), outFile);
  engine = created.engine;
});

afterAll(async () => {
  await rm(outDir, { recursive: true, force: true });
});

function action(x: number, y: number): Uint8Array {
  return new Uint8Array(Uint32Array.of(x, y).buffer);
}

function errorCode(call: () => unknown): string | undefined {
  try {
    call();
    return undefined;
  } catch (error) {
    return error instanceof CallError ? error.code : `untyped ${String(error)}`;
  }
}

describe("multi-discrete action spaces and reset hints", () => {
  it("writes the mask dimension by dimension and checks each dimension", () => {
    const start = engine.reset(env, 1n);
    const [x, y] = [start.state[0]!, start.state[1]!];
    expect(Array.from(start.legalMask)).toEqual([
      ...[0, 1, 2].map((i) => (i === x ? 0 : 1)),
      ...[0, 1, 2, 3].map((i) => (i === y ? 0 : 1)),
    ]);
    expect(errorCode(() => engine.step(env, start.state, action(x, (y + 1) % 4)))).toBe(
      "IllegalAction",
    );
    expect(errorCode(() => engine.step(env, start.state, action(3, 0)))).toBe("BadAction");
    const next = engine.step(env, start.state, action((x + 1) % 3, (y + 1) % 4));
    expect(next.reward).toBe(((x + 1) % 3) + ((y + 1) % 4));
  });

  it("passes the reset hint to the game and reports a hint it refuses", () => {
    const start = engine.reset(env, 1n, Uint8Array.of(2, 3));
    expect(Array.from(start.state)).toEqual([2, 3, 0]);
    expect(errorCode(() => engine.reset(env, 1n, Uint8Array.of(3, 0)))).toBe("BadHint");
    expect(errorCode(() => engine.reset(env, 1n, Uint8Array.of(1)))).toBe("BadHint");
    expect(errorCode(() => engine.reset(env, 1n, Uint8Array.of(1, 1, 1)))).toBe("BadHint");
  });

  it("chooses each dimension uniformly among its legal values in rollouts", () => {
    // Counts of "moved up by k" per dimension: k = 1..2 for x, 1..3 for y, all equally likely.
    const xMoves = [0, 0, 0];
    const yMoves = [0, 0, 0, 0];
    let rows = 0;
    let wrongFlags = 0;
    for (const chunk of engine.rollout({
      ...env,
      seed: 5n,
      episodes: 2000,
      stepCap: 10,
      includeObs: false,
    })) {
      const actions = new DataView(chunk.actions.buffer, chunk.actions.byteOffset);
      for (let r = 0; r < chunk.rows; r++) {
        const x = actions.getUint32(8 * r, true);
        const y = actions.getUint32(8 * r + 4, true);
        const before =
          r > 0 && chunk.steps[r]! > 0 ? chunk.states.subarray(3 * (r - 1)) : undefined;
        if (before !== undefined) {
          xMoves[(x - before[0]! + 3) % 3]! += 1;
          yMoves[(y - before[1]! + 4) % 4]! += 1;
        }
        if (chunk.flags[r] !== (chunk.steps[r] === 9 ? 2 : 0)) wrongFlags++;
        rows++;
      }
    }
    expect(rows).toBe(2000 * 10);
    expect(wrongFlags).toBe(0);
    expect(xMoves[0]).toBe(0);
    expect(yMoves[0]).toBe(0);
    const chiSquare = (counts: number[]) => {
      const expected = counts.reduce((a, b) => a + b, 0) / counts.length;
      return counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
    };
    expect(chiSquare(xMoves.slice(1))).toBeLessThan(10.83); // 1 degree of freedom, 99.9%
    expect(chiSquare(yMoves.slice(1))).toBeLessThan(13.82); // 2 degrees of freedom, 99.9%
  });
});
