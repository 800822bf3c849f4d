import { describe, expect, it } from "vitest";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import { counterEngine } from "./engine-helpers.js";

const counter = { envId: "counter-v1" };
/** The counter's state size in bytes. */
const STATE_BYTES = 8;
/**
 * The most one counter row can take in a chunk: state, obs (8), action (4), one player reward
 * and the fixed columns (14); every column of a chunk shares one buffer.
 */
const ROW_BYTES_MAX = STATE_BYTES + 8 + 4 + 4 + 14;

describe("rollout chunk memory", () => {
  it("sizes a chunk by the rows the request can produce, not by a large chunkSteps", async () => {
    const { engine } = await counterEngine();
    const [chunk] = [
      ...engine.rollout({
        ...counter,
        seed: 3n,
        episodes: 2,
        stepCap: 6,
        includeObs: true,
        chunkSteps: 1 << 20,
      }),
    ];
    if (chunk === undefined) throw new Error("no chunk");
    // Two episodes of at most six steps can never need more than twelve rows of storage.
    expect(chunk.states.buffer.byteLength).toBeLessThanOrEqual(2 * 6 * ROW_BYTES_MAX);
    expect(chunk.obs.buffer).toBe(chunk.states.buffer);
  });

  it("keeps chunks within the engine's byte budget, still with whole episodes", async () => {
    const { registry } = await counterEngine();
    // Room for only a few rows per chunk: every chunk still holds whole episodes.
    const engine = new CartridgeEngine(registry, { maxChunkBytes: 256 });
    const request = { ...counter, seed: 9n, episodes: 20, stepCap: 6, includeObs: true };
    const chunks = [...engine.rollout({ ...request, chunkSteps: 1 << 20 })];
    expect(chunks.length).toBeGreaterThan(1);
    const whole = [...new CartridgeEngine(registry).rollout(request)];
    const rows = chunks.reduce((n, c) => n + c.rows, 0);
    expect(rows).toBe(whole.reduce((n, c) => n + c.rows, 0));
    for (const chunk of chunks) {
      expect(chunk.steps[0]).toBe(0);
      expect(chunk.states.buffer.byteLength).toBeLessThanOrEqual(256);
    }
  });
});
