import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DecodedChunk } from "../../host/client/index.js";
import { type Harness, startHarness } from "./harness.js";

const TTT = "tictactoe-v1";
const MAX_SEED = 2n ** 64n - 1n;

/** The actions of each episode of a rollout call, by episode index. */
async function episodeActions(chunks: AsyncIterable<DecodedChunk>): Promise<number[][]> {
  const episodes: number[][] = [];
  for await (const chunk of chunks) {
    const actions = new Uint32Array(chunk.actions.slice().buffer);
    for (let row = 0; row < chunk.rows; row++) {
      const episode = chunk.index[row] ?? 0;
      episodes[episode] ??= [];
      episodes[episode].push(actions[row] ?? 0);
    }
  }
  return episodes;
}

describe("uint64 seeds over the wire (real server)", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h.close();
  });

  it("resets from seeds 0 and 2^64-1 exactly like the in-process engine", async () => {
    for (const seed of [0n, MAX_SEED]) {
      const wire = await h.client.reset(TTT, seed);
      const local = h.engine.reset({ envId: TTT }, seed);
      expect(Buffer.from(wire.state)).toEqual(Buffer.from(local.state));
    }
  });

  it("seeds rollout episode i with seed + i modulo 2^64", async () => {
    const wrapped = await episodeActions(
      h.client.batchSimulate({ envId: TTT, rollouts: { seed: MAX_SEED, episodes: 3 } }),
    );
    const fromZero = await episodeActions(
      h.client.batchSimulate({ envId: TTT, rollouts: { seed: 0, episodes: 2 } }),
    );
    expect(wrapped).toHaveLength(3);
    expect(wrapped[1]).toEqual(fromZero[0]);
    expect(wrapped[2]).toEqual(fromZero[1]);
  });

  it("refuses seeds the wire cannot carry instead of playing another seed's episode", async () => {
    await expect(h.client.reset(TTT, -1n)).rejects.toThrow(RangeError);
    await expect(h.client.reset(TTT, 2n ** 64n)).rejects.toThrow(RangeError);
    const env = await h.client.make(TTT);
    await expect(env.reset({ seed: -1 })).rejects.toThrow(/uint64/);
    const rollouts = h.client.batchSimulate({ envId: TTT, rollouts: { seed: -1, episodes: 1 } });
    await expect(rollouts.next()).rejects.toThrow(RangeError);
  });
});
