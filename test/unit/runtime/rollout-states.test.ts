import { describe, expect, it } from "vitest";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import { Registry } from "../../../host/runtime/registry.js";
import { counterVariant } from "../../fixtures/counter-variants.js";

/** A rollout that does not ask for states neither copies nor returns them; the rest is the same. */
describe("rollouts without states", () => {
  it("gives the same columns with an empty states column", async () => {
    const registry = new Registry();
    await registry.register(await counterVariant(), "counter.wasm");
    const engine = new CartridgeEngine(registry);
    const request = {
      envId: "counter-v1",
      seed: 5n,
      episodes: 40,
      stepCap: 6,
      includeObs: true,
      chunkSteps: 64,
    };
    const withStates = [...engine.rollout(request)];
    const without = [...engine.rollout({ ...request, includeStates: false })];
    expect(without.length).toBe(withStates.length);
    for (const [i, chunk] of without.entries()) {
      const full = withStates[i];
      expect(full?.states.byteLength).toBeGreaterThan(0);
      expect(chunk.states.byteLength).toBe(0);
      expect({ ...chunk, states: full?.states }).toEqual(full);
    }
    const at = engine.rolloutChunkAt({ ...request, includeStates: false }, 0);
    expect(at.chunk).toEqual(without[0]);
  });
});
