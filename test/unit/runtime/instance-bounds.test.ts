import { describe, expect, it } from "vitest";
import { CartridgeInstance } from "../../../host/runtime/instance.js";
import { loadCartridge } from "../../../host/runtime/loader.js";
import { counterVariant } from "../../fixtures/counter-variants.js";
import { callError as thrown } from "./engine-helpers.js";

describe("CartridgeInstance never passes arrays that overlap or leave its layout", () => {
  it("refuses a batch larger than the batch layout, naming the limit", async () => {
    const instance = new CartridgeInstance(await loadCartridge(await counterVariant()));
    const capacity = instance.batch.capacity;
    for (const count of [capacity + 1, 0, -1, 1.5]) {
      const error = thrown(() => instance.stepBatch(count));
      expect(error.code).toBe("BadArgument");
      expect(error.message).toContain(`1..${capacity}`);
    }
    expect(instance.dead).toBe(false);
  });

  it("refuses a rollout step cap larger than the rollout layout, naming the limit", async () => {
    const instance = new CartridgeInstance(await loadCartridge(await counterVariant()));
    const capacity = instance.rolloutArrays.capacity;
    for (const stepCap of [capacity + 1, 0]) {
      const error = thrown(() => instance.rollout(0n, stepCap, true));
      expect(error.code).toBe("BadArgument");
      expect(error.message).toContain(`1..${capacity}`);
    }
    expect(instance.rollout(0n, capacity, true)).toBeGreaterThan(0);
  });

  it("refuses a seed outside [0, 2^64) instead of wrapping it", async () => {
    const instance = new CartridgeInstance(await loadCartridge(await counterVariant()));
    for (const seed of [1n << 64n, -1n]) {
      expect(thrown(() => instance.resetInPlace(seed)).code).toBe("BadArgument");
      expect(thrown(() => instance.reset(seed, new Uint8Array(0))).code).toBe("BadArgument");
      expect(thrown(() => instance.rollout(seed, 1, false)).code).toBe("BadArgument");
      expect(thrown(() => instance.resetBatchSlot(0, seed)).code).toBe("BadArgument");
    }
    instance.resetInPlace((1n << 64n) - 1n);
    expect(instance.dead).toBe(false);
  });
});
