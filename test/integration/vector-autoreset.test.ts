import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type {
  BatchSimulateRequest,
  SimResultChunk,
} from "../../host/proto/generated/engine/v1/engine.js";
import { counterVariant } from "../fixtures/counter-variants.js";
import { type Harness, rejection, startHarness } from "./harness.js";

/**
 * The batched path a vector env trains on: vector reset (env i seeded seed + i, with hints),
 * legal masks in vector-step results, and same-step autoreset, each checked against the same
 * envs driven one call at a time through Reset and Step.
 */

const TTT = "tictactoe-v1";
const C4 = "connect4-v1";
const COUNTER = "counter-v1";

/** All chunks of one call, their columns concatenated (the compact final columns too). */
interface Columns {
  rows: number;
  index: number[];
  states: Buffer;
  obs: Buffer;
  rewards: Float32Array;
  flags: Uint8Array;
  currentPlayers: Int8Array;
  playerRewards: Float32Array;
  statuses: Uint8Array;
  legalMasks: Buffer;
  finalObs: Buffer;
  finalStates: Buffer;
}

function collect(h: Harness, request: BatchSimulateRequest): Promise<Columns> {
  return new Promise((resolve, reject) => {
    const chunks: SimResultChunk[] = [];
    const call = h.client.rawBatchSimulate(request);
    call.on("data", (chunk: SimResultChunk) => chunks.push(chunk));
    call.on("error", reject);
    call.on("end", () => {
      const cat = (pick: (c: SimResultChunk) => Buffer) => Buffer.concat(chunks.map(pick));
      const f32 = (b: Buffer) => new Float32Array(new Uint8Array(b).buffer);
      const index = cat((c) => c.index);
      resolve({
        rows: chunks.reduce((n, c) => n + c.rows, 0),
        index: Array.from(new Uint32Array(new Uint8Array(index).buffer)),
        states: cat((c) => c.states),
        obs: cat((c) => c.obs),
        rewards: f32(cat((c) => c.rewards)),
        flags: new Uint8Array(cat((c) => c.flags)),
        currentPlayers: new Int8Array(new Uint8Array(cat((c) => c.currentPlayers)).buffer),
        playerRewards: f32(cat((c) => c.playerRewards)),
        statuses: new Uint8Array(cat((c) => c.statuses)),
        legalMasks: cat((c) => c.legalMasks),
        finalObs: cat((c) => c.finalObs),
        finalStates: cat((c) => c.finalStates),
      });
    });
  });
}

function resetRequest(
  envId: string,
  seed: bigint,
  count: number,
  hints: Buffer[] = [],
  chunkRows = 0,
) {
  return {
    id: { envId, buildId: "" },
    mode: { $case: "reset" as const, value: { seed, count, hints } },
    chunkRows,
  };
}

function stepRequest(
  envId: string,
  states: Buffer,
  actions: Buffer,
  autoresetSeed: bigint | undefined,
  chunkRows = 0,
) {
  return {
    id: { envId, buildId: "" },
    mode: {
      $case: "vector" as const,
      value: {
        states,
        actions,
        autoreset: autoresetSeed !== undefined,
        autoresetSeed: autoresetSeed ?? 0n,
      },
    },
    chunkRows,
  };
}

const u32 = (values: number[]) => Buffer.from(new Uint32Array(values).buffer);

/** A deterministic pick among the legal actions of a mask (a tiny LCG, so runs replay). */
function pickLegal(mask: Uint8Array, salt: number): number {
  const legal: number[] = [];
  mask.forEach((m, a) => {
    if (m === 1) legal.push(a);
  });
  const x = (Math.imul(salt, 1103515245) + 12345) >>> 0;
  return legal[x % legal.length] ?? 0;
}

describe("vector reset, masks and autoreset (real server)", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
    await h.registry.register(await counterVariant(), "memory:counter");
  });

  afterAll(async () => {
    await h.close();
  });

  it("resets N envs seeded seed + i, each as a single Reset would", async () => {
    const n = 7;
    // chunkRows 3 splits the call, so the seeds must follow the global env index across chunks.
    const got = await collect(h, resetRequest(COUNTER, 40n, n, [], 3));
    expect(got.rows).toBe(n);
    expect(got.index).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(Array.from(got.statuses)).toEqual(new Array(n).fill(0));
    expect(Array.from(got.flags)).toEqual(new Array(n).fill(0));
    for (let i = 0; i < n; i++) {
      const one = await h.client.reset(COUNTER, 40n + BigInt(i));
      expect(got.states.subarray(8 * i, 8 * (i + 1))).toEqual(one.state);
      expect(got.obs.subarray(8 * i, 8 * (i + 1))).toEqual(one.obs);
      expect(got.legalMasks.subarray(3 * i, 3 * (i + 1))).toEqual(one.legalMask);
      expect(got.currentPlayers[i]).toBe(one.currentPlayer);
    }
  });

  it("passes one hint to every env, or hint i to env i", async () => {
    const all = await collect(h, resetRequest(COUNTER, 0n, 3, [u32([5])]));
    const each = await collect(h, resetRequest(COUNTER, 0n, 3, [u32([1]), u32([2]), u32([3])]));
    const values = (c: Columns) => [0, 1, 2].map((i) => c.states.readInt32LE(8 * i));
    expect(values(all)).toEqual([5, 5, 5]);
    expect(values(each)).toEqual([1, 2, 3]);
    const single = await h.client.reset(COUNTER, 0n, { hint: u32([2]) });
    expect(each.states.subarray(8, 16)).toEqual(single.state);
  });

  it("rejects bad vector resets with typed errors", async () => {
    const twoHints = await rejection(
      collect(h, resetRequest(COUNTER, 0n, 3, [u32([1]), u32([2])])),
    );
    expect(twoHints.code).toBe(status.INVALID_ARGUMENT);
    expect(twoHints.message).toContain("hints");
    const longHint = await rejection(collect(h, resetRequest(COUNTER, 0n, 1, [Buffer.alloc(5)])));
    expect(longHint.code).toBe(status.INVALID_ARGUMENT);
    const none = await rejection(collect(h, resetRequest(TTT, 0n, 0)));
    expect(none.code).toBe(status.INVALID_ARGUMENT);
    const tooMany = await rejection(collect(h, resetRequest(TTT, 0n, 1_000_000)));
    expect(tooMany.code).toBe(status.RESOURCE_EXHAUSTED);
    const unknown = await rejection(collect(h, resetRequest("nope-v1", 0n, 1)));
    expect(unknown.code).toBe(status.NOT_FOUND);
  });

  it("returns the legal mask of every stepped env, as Step does", async () => {
    const start = await collect(h, resetRequest(C4, 9n, 4));
    const actions = u32([0, 3, 3, 6]);
    const got = await collect(h, stepRequest(C4, start.states, actions, undefined));
    const stateBytes = start.states.length / 4;
    for (let i = 0; i < 4; i++) {
      const one = await h.client.step(
        C4,
        start.states.subarray(stateBytes * i, stateBytes * (i + 1)),
        actions.subarray(4 * i, 4 * (i + 1)),
      );
      expect(got.legalMasks.subarray(7 * i, 7 * (i + 1))).toEqual(one.legalMask);
      expect(got.states.subarray(stateBytes * i, stateBytes * (i + 1))).toEqual(one.state);
    }
    expect(got.finalObs.length).toBe(0);
  });

  for (const envId of [TTT, C4, COUNTER]) {
    it(`autoresets ${envId} like a sequential reference of Reset and Step`, async () => {
      const n = 6;
      const seed = 1000n;
      const caps = await h.client.capabilities(envId);
      const { stateBytes, obsBytes, legalMaskBytes: maskBytes, players } = caps;
      // The reference: each env driven alone, reset with the documented seed when its episode ends.
      const ref = await Promise.all(
        Array.from({ length: n }, (_, i) => h.client.reset(envId, seed + BigInt(i))),
      );
      const refState = ref.map((r) => Buffer.from(r.state));
      const refMask = ref.map((r) => new Uint8Array(r.legalMask));
      let states = (await collect(h, resetRequest(envId, seed, n))).states;
      let ended = 0;
      for (let t = 0; t < 30; t++) {
        const picks = refMask.map((mask, i) => pickLegal(mask, 31 * t + i));
        // Chunks of 4 rows: the autoreset seed must follow the global env index across chunks.
        const autoresetSeed = seed + BigInt(n * (t + 1));
        const got = await collect(h, stepRequest(envId, states, u32(picks), autoresetSeed, 4));
        expect(Array.from(got.statuses)).toEqual(new Array(n).fill(0));
        const steps = await Promise.all(
          refState.map((state, i) => h.client.step(envId, state, u32([picks[i] as number]))),
        );
        const resets = await Promise.all(
          steps.map((one, i) =>
            one.done ? h.client.reset(envId, autoresetSeed + BigInt(i)) : undefined,
          ),
        );
        let k = 0;
        for (let i = 0; i < n; i++) {
          const one = steps[i] as (typeof steps)[number];
          expect(got.rewards[i]).toBeCloseTo(one.reward, 6);
          expect(Array.from(got.playerRewards.subarray(i * players, (i + 1) * players))).toEqual(
            one.playerRewards.map((r) => Math.fround(r)),
          );
          expect(got.flags[i]).toBe((one.terminated ? 1 : 0) | (one.truncated ? 2 : 0));
          let next = one;
          if (one.done) {
            expect(got.finalStates.subarray(k * stateBytes, (k + 1) * stateBytes)).toEqual(
              one.state,
            );
            expect(got.finalObs.subarray(k * obsBytes, (k + 1) * obsBytes)).toEqual(one.obs);
            k += 1;
            ended += 1;
            const fresh = resets[i] as NonNullable<(typeof resets)[number]>;
            next = { ...one, state: fresh.state, obs: fresh.obs, legalMask: fresh.legalMask };
            expect(got.currentPlayers[i]).toBe(fresh.currentPlayer);
          } else {
            expect(got.currentPlayers[i]).toBe(one.currentPlayer);
          }
          expect(got.states.subarray(i * stateBytes, (i + 1) * stateBytes)).toEqual(next.state);
          expect(got.obs.subarray(i * obsBytes, (i + 1) * obsBytes)).toEqual(next.obs);
          expect(got.legalMasks.subarray(i * maskBytes, (i + 1) * maskBytes)).toEqual(
            next.legalMask,
          );
          refState[i] = Buffer.from(next.state);
          refMask[i] = new Uint8Array(next.legalMask);
        }
        expect(got.finalStates.length).toBe(k * stateBytes);
        states = got.states;
      }
      // 30 steps of 6 envs end many episodes of every one of these games.
      expect(ended).toBeGreaterThan(n);
    });
  }

  it("leaves a failed env as it was, without resetting it, and with an all-zero mask", async () => {
    const start = await collect(h, resetRequest(TTT, 3n, 2));
    const stateBytes = start.states.length / 2;
    // Env 1 plays action 9 (out of range); env 2 sends state bytes that do not decode.
    const states = Buffer.concat([start.states, Buffer.alloc(stateBytes, 0xff)]);
    const got = await collect(h, stepRequest(TTT, states, u32([4, 9, 0]), 77n));
    expect(got.statuses[0]).toBe(0);
    expect(got.statuses[1]).not.toBe(0);
    expect(got.statuses[2]).not.toBe(0);
    for (const row of [1, 2]) {
      expect(got.states.subarray(row * stateBytes, (row + 1) * stateBytes)).toEqual(
        states.subarray(row * stateBytes, (row + 1) * stateBytes),
      );
      expect(Array.from(got.legalMasks.subarray(9 * row, 9 * (row + 1)))).toEqual(
        new Array(9).fill(0),
      );
    }
    expect(got.legalMasks.subarray(0, 9).reduce((a, b) => a + b, 0)).toBe(8);
    expect(got.finalStates.length).toBe(0);
  });
});
