import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { firstTrappingCap } from "../../../host/runtime/rollout-trap-step.js";

/** The bisection that finds a rollout's trapping step: exact and bounded. */
describe("firstTrappingCap", () => {
  it("finds the first trapping cap in at most ceil(log2(stepCap)) re-runs", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1 << 20 }), fc.double({ min: 0, max: 1 }), (cap, f) => {
        const first = 1 + Math.floor(f * (cap - 1));
        let probes = 0;
        const found = firstTrappingCap(cap, (k) => {
          probes++;
          expect(k).toBeGreaterThanOrEqual(1);
          expect(k).toBeLessThan(cap);
          return k >= first;
        });
        expect(found).toBe(first);
        expect(probes).toBeLessThanOrEqual(Math.ceil(Math.log2(cap)));
      }),
    );
  });
});
