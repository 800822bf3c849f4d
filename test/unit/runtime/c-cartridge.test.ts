import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import { Registry } from "../../../host/runtime/registry.js";
import { validateCartridge } from "../../../host/runtime/validate.js";
import { callError, u32s } from "./engine-helpers.js";

/**
 * docs/examples/coinflip.c is a cartridge written in C from docs/abi.md alone and compiled with
 * clang (scripts/build-c-example.sh). These tests hold the ABI's promise that a cartridge from
 * another language works like an AssemblyScript one.
 */
const FIXTURE = new URL("../../fixtures/c/coinflip-v1.wasm", import.meta.url);
const coin = { envId: "coinflip-v1" };

async function coinEngine(): Promise<CartridgeEngine> {
  const registry = new Registry();
  await registry.register(new Uint8Array(await readFile(FIXTURE)), "coinflip-v1.wasm");
  return new CartridgeEngine(registry);
}

/** Plays a whole episode guessing heads; returns the flips seen (from the observations). */
function playHeads(engine: CartridgeEngine, seed: bigint): number[] {
  let { state } = engine.reset(coin, seed);
  const flips: number[] = [];
  for (let t = 0; t < 10; t++) {
    const next = engine.step(coin, state, u32s(0));
    const obs = new Float32Array(next.obs.slice().buffer);
    const flip = obs[0] === 1 ? 0 : 1;
    flips.push(flip);
    expect(next.reward).toBe(flip === 0 ? 1 : -1);
    expect(next.truncated).toBe(t === 9);
    expect(next.terminated).toBe(false);
    state = next.state;
  }
  expect(callError(() => engine.step(coin, state, u32s(0))).code).toBe("EpisodeOver");
  return flips;
}

describe("a cartridge written in C", () => {
  it("passes the same validation as the bundled cartridges", async () => {
    const report = await validateCartridge(new Uint8Array(await readFile(FIXTURE)));
    expect(report.checks.filter((check) => !check.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.manifest?.env_id).toBe("coinflip-v1");
  });

  it("keeps its generator in the state: seeds replay exactly and different seeds differ", async () => {
    const engine = await coinEngine();
    const seeds = [0n, 1n, 2n, 3n, 2n ** 64n - 1n];
    const runs = seeds.map((seed) => playHeads(engine, seed).join(""));
    expect(playHeads(await coinEngine(), 3n).join("")).toBe(runs[3]);
    expect(new Set(runs.slice(0, 4)).size).toBeGreaterThan(1);
  });

  it("rejects bad actions and states with typed errors and keeps serving", async () => {
    const engine = await coinEngine();
    const { state } = engine.reset(coin, 7n);
    expect(callError(() => engine.step(coin, state, u32s(2))).code).toBe("BadAction");
    const broken = state.slice();
    broken[8] = 11; // eleven flips done: past the horizon
    expect(callError(() => engine.step(coin, broken, u32s(0))).code).toBe("BadState");
    expect(callError(() => engine.step(coin, state.subarray(0, 15), u32s(0))).code).toBe(
      "BadState",
    );
    expect(engine.step(coin, state, u32s(1)).state).toHaveLength(16);
  });

  it("isolates a bad env in a batch and plays in-cartridge rollouts seeded seed + i", async () => {
    const engine = await coinEngine();
    const { state } = engine.reset(coin, 5n);
    const batch = engine.batchStep(
      coin,
      new Uint8Array([...state, ...state]),
      new Uint8Array([...u32s(0), ...u32s(9)]),
    );
    expect(Array.from(batch.statuses)).toEqual([0, 3]);
    expect(batch.states.subarray(16)).toEqual(state);

    const chunks = [
      ...engine.rollout({ ...coin, seed: 40n, episodes: 3, stepCap: 10, includeObs: false }),
    ];
    const rows = chunks.reduce((n, chunk) => n + chunk.rows, 0);
    expect(rows).toBe(30);
    const again = [
      ...engine.rollout({ ...coin, seed: 41n, episodes: 1, stepCap: 10, includeObs: false }),
    ];
    const first = chunks[0];
    expect(first?.states.subarray(160, 320)).toEqual(again[0]?.states);
  });
});
