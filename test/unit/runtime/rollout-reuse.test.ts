import { afterEach, describe, expect, it } from "vitest";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import type { RolloutChunk } from "../../../host/runtime/engine.js";
import { releaseRolloutChunk } from "../../../host/runtime/rollout-chunks.js";
import { WorkerEngine } from "../../../host/runtime/worker-engine.js";
import { counterEngine } from "./engine-helpers.js";

const ROLLOUT = {
  envId: "counter-v1",
  seed: 5n,
  episodes: 200,
  stepCap: 6,
  includeObs: true,
  chunkSteps: 60,
} as const;

/** Every column's bytes, copied: what a consumer writes out before it releases the chunk. */
function bytesOf(chunk: RolloutChunk): number[][] {
  const columns = [
    chunk.episodes,
    chunk.steps,
    chunk.actions,
    chunk.states,
    chunk.obs,
    chunk.rewards,
    chunk.flags,
    chunk.currentPlayers,
    chunk.playerRewards,
  ];
  return columns.map((c) => [...new Uint8Array(c.buffer, c.byteOffset, c.byteLength)]);
}

const open: WorkerEngine[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((engine) => engine.close()));
});

describe("released rollout chunks", () => {
  it("lend their buffer to a later chunk of the call, which still holds the same rows", async () => {
    const { registry } = await counterEngine();
    const fresh = [...new CartridgeEngine(registry).rollout(ROLLOUT)].map(bytesOf);
    expect(fresh.length).toBeGreaterThan(4);
    const buffers = new Set<ArrayBufferLike>();
    const recycled: number[][][] = [];
    for (const chunk of new CartridgeEngine(registry).rollout(ROLLOUT)) {
      recycled.push(bytesOf(chunk));
      buffers.add(chunk.episodes.buffer);
      releaseRolloutChunk(chunk);
      releaseRolloutChunk(chunk); // a second release changes nothing
    }
    expect(recycled).toEqual(fresh);
    expect(buffers.size).toBeLessThan(fresh.length);
  });

  it("go back to the worker that builds a later chunk, with 1 and 2 workers", async () => {
    const { registry } = await counterEngine();
    const fresh = [...new CartridgeEngine(registry).rollout(ROLLOUT)].map(bytesOf);
    for (const workers of [1, 2]) {
      const engine = new WorkerEngine(registry, { workers });
      open.push(engine);
      const recycled: number[][][] = [];
      const released: RolloutChunk[] = [];
      for await (const chunk of engine.rollout(ROLLOUT)) {
        recycled.push(bytesOf(chunk));
        releaseRolloutChunk(chunk);
        released.push(chunk);
      }
      expect(recycled).toEqual(fresh);
      // A buffer sent back to a worker is transferred, so the released chunk's views are empty.
      expect(released.some((chunk) => chunk.episodes.buffer.byteLength === 0)).toBe(true);
    }
  });
});
