import { describe, expect, it } from "vitest";
import type { RolloutChunk } from "../../../host/runtime/engine.js";
import {
  actionIs,
  counterVariant,
  editManifest,
  edits,
  withStepBody,
} from "../../fixtures/counter-variants.js";
import { counterEngine, counterState, u32s } from "./engine-helpers.js";

const counter = { envId: "counter-v1" };

function f32(...values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

describe("CartridgeEngine on the counter cartridge", () => {
  it("lists capabilities derived from the manifest and the exchange region", async () => {
    const { engine } = await counterEngine();
    const [caps] = engine.listEnvs();
    expect(caps).toMatchObject({
      envId: "counter-v1",
      infoBytes: 12,
      legalMaskBytes: 3,
      maxBatch: 819,
      maxRolloutSteps: 1024,
      source: "counter.wasm",
    });
    expect(engine.capabilities(counter)).toEqual(caps);
  });

  it("resets from the seed and reports the observation, info and legal mask", async () => {
    const { engine } = await counterEngine();
    const t = engine.reset(counter, 13n);
    expect(t.state).toEqual(counterState(13 & 7, 0));
    expect(t.obs).toEqual(f32(5, 0));
    expect(t).toMatchObject({ reward: 0, terminated: false, truncated: false, currentPlayer: 0 });
    expect(t.legalMask).toEqual(new Uint8Array([1, 1, 0]));
  });

  it("steps to termination with rewards, flags and an all-zero mask at the end", async () => {
    const { engine } = await counterEngine();
    const first = engine.step(counter, counterState(6, 0), u32s(2));
    expect(first.state).toEqual(counterState(9, 1));
    expect(first.reward).toBe(3);
    expect(first.playerRewards).toEqual(Float32Array.of(3));
    const last = engine.step(counter, first.state, u32s(1));
    expect(last).toMatchObject({
      terminated: true,
      truncated: false,
      currentPlayer: -1,
      reward: 2,
    });
    expect(last.legalMask).toEqual(new Uint8Array([0, 0, 0]));
  });

  it("reports truncation separately from termination", async () => {
    const { engine } = await counterEngine();
    const t = engine.step(counter, counterState(0, 5), u32s(0));
    expect(t).toMatchObject({ terminated: false, truncated: true, currentPlayer: -1 });
  });

  it("returns copies that later calls do not overwrite", async () => {
    const { engine } = await counterEngine();
    const a = engine.reset(counter, 1n);
    engine.reset(counter, 2n);
    expect(a.state).toEqual(counterState(1, 0));
  });

  it("batch-steps envs independently, with per-env statuses and failed states left as they were", async () => {
    const { engine } = await counterEngine();
    const states = new Uint8Array([
      ...counterState(0, 0),
      ...counterState(3, 0),
      ...counterState(10, 2),
      ...counterState(8, 4),
    ]);
    const b = engine.batchStep(counter, states, u32s(0, 2, 0, 1));
    expect(b.count).toBe(4);
    expect(b.statuses).toEqual(new Uint8Array([0, 1, 4, 0]));
    expect(b.states).toEqual(
      new Uint8Array([
        ...counterState(1, 1),
        ...counterState(3, 0),
        ...counterState(10, 2),
        ...counterState(10, 5),
      ]),
    );
    expect(b.rewards).toEqual(Float32Array.of(1, 0, 0, 2));
    expect(b.terminated).toEqual(new Uint8Array([0, 0, 0, 1]));
    expect(b.currentPlayers).toEqual(Int8Array.of(0, 0, 0, -1));
    expect(b.obs.subarray(0, 8)).toEqual(f32(1, 1));
  });

  it("batch step equals one step per env", async () => {
    const { engine } = await counterEngine();
    const singles = [0, 1, 2, 4, 6].map((v) =>
      engine.step(counter, counterState(v, 1), u32s(v % 2)),
    );
    const batch = engine.batchStep(
      counter,
      new Uint8Array([0, 1, 2, 4, 6].flatMap((v) => [...counterState(v, 1)])),
      u32s(...[0, 1, 2, 4, 6].map((v) => v % 2)),
    );
    expect(batch.states).toEqual(new Uint8Array(singles.flatMap((t) => [...t.state])));
    expect(batch.obs).toEqual(new Uint8Array(singles.flatMap((t) => [...t.obs])));
    expect([...batch.rewards]).toEqual(singles.map((t) => t.reward));
  });

  it("rolls out lazily in chunks of whole episodes seeded seed + i", async () => {
    const { engine } = await counterEngine();
    const request = { ...counter, seed: 5n, episodes: 6, stepCap: 6, includeObs: true };
    const whole = [...engine.rollout({ ...request, chunkSteps: 1 << 16 })];
    expect(whole).toHaveLength(1);
    const chunked = [...engine.rollout({ ...request, chunkSteps: 7 })];
    expect(chunked.length).toBeGreaterThan(1);
    const rows = (chunks: RolloutChunk[]) => chunks.reduce((n, c) => n + c.rows, 0);
    expect(rows(chunked)).toBe(whole[0]?.rows);
    for (const chunk of chunked) {
      // Whole episodes only: every chunk starts at step 0 of an episode.
      expect(chunk.steps[0]).toBe(0);
      expect(chunk.obs.byteLength).toBe(chunk.rows * 8);
    }
    // Episode i is the rollout of seed + i on its own.
    const [second] = [...engine.rollout({ ...request, seed: 6n, episodes: 1 })];
    const all = whole[0];
    if (all === undefined || second === undefined) throw new Error("no chunks");
    const episode1 = [...all.episodes.keys()].filter((r) => all.episodes[r] === 1);
    expect(all.states.subarray(episode1[0]! * 8, (episode1.at(-1)! + 1) * 8)).toEqual(
      second.states,
    );
    // The state column starts from the seeded reset: value (seed & 7) plus the first action + 1.
    const firstValue = new DataView(second.states.buffer, second.states.byteOffset).getUint32(
      0,
      true,
    );
    expect(firstValue).toBe((6 & 7) + second.actions[0]! + 1);
  });

  it("wraps episode seeds modulo 2^64", async () => {
    const { engine } = await counterEngine();
    const max = (1n << 64n) - 1n;
    const [wrapped] = [
      ...engine.rollout({ ...counter, seed: max, episodes: 2, stepCap: 6, includeObs: false }),
    ];
    const [zero] = [
      ...engine.rollout({ ...counter, seed: 0n, episodes: 1, stepCap: 6, includeObs: false }),
    ];
    if (wrapped === undefined || zero === undefined) throw new Error("no chunks");
    const rowsOf1 = [...wrapped.episodes].filter((e) => e === 1).length;
    expect(wrapped.states.subarray(wrapped.states.byteLength - rowsOf1 * 8)).toEqual(zero.states);
    expect(wrapped.obs.byteLength).toBe(0);
  });

  it("stops each episode at stepCap", async () => {
    const { engine } = await counterEngine();
    const [chunk] = [
      ...engine.rollout({ ...counter, seed: 0n, episodes: 3, stepCap: 2, includeObs: false }),
    ];
    expect(chunk?.rows).toBe(6);
    expect([...(chunk?.steps ?? [])]).toEqual([0, 1, 0, 1, 0, 1]);
  });

  it("holds no instance while the caller has not asked for the next chunk", async () => {
    const { engine, registry } = await counterEngine();
    const pool = registry.resolve(counter).pool;
    const chunks = engine.rollout({
      ...counter,
      seed: 0n,
      episodes: 4,
      stepCap: 6,
      includeObs: false,
      chunkSteps: 1,
    });
    chunks.next();
    const idle = pool.idleCount;
    expect(idle).toBeGreaterThan(0);
    chunks.return();
    expect(pool.idleCount).toBe(idle);
  });

  it("reads results correctly after the cartridge grows its memory during a call", async () => {
    const { registry, engine } = await counterEngine();
    const bytes = await counterVariant(
      edits(
        editManifest({ env_id: "grow-v1" }),
        withStepBody(`(if ${actionIs(1)} (then (drop (memory.grow (i32.const 1)))))`),
      ),
    );
    await registry.register(bytes, "grow.wasm");
    const grow = { envId: "grow-v1" };
    expect(engine.step(grow, counterState(0, 0), u32s(0)).state).toEqual(counterState(1, 1));
    const grown = engine.step(grow, counterState(4, 2), u32s(1));
    expect(grown.state).toEqual(counterState(6, 3));
    expect(grown.obs).toEqual(f32(6, 3));
    expect(grown.legalMask).toEqual(new Uint8Array([1, 1, 1]));
    const batch = engine.batchStep(
      grow,
      new Uint8Array([...counterState(1, 0), ...counterState(2, 0)]),
      u32s(1, 1),
    );
    expect(batch.states).toEqual(new Uint8Array([...counterState(3, 1), ...counterState(4, 1)]));
  });
});
