import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  firstTrappingCap,
  firstTrappingCapWithin,
} from "../../../host/runtime/rollout-trap-step.js";

/** The bisection that finds a rollout's trapping step: exact and bounded. */
describe("firstTrappingCap", () => {
  it("finds the first trapping cap in at most ceil(log2(stepCap)) re-runs", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1 << 20 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (cap, f) => {
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
        },
      ),
    );
  });
});

describe("firstTrappingCapWithin", () => {
  it("gives up, leaving the step unknown, once the re-runs used more than the allowance", () => {
    // Each re-run costs its cap in fuel; the trap is at the last step of a long episode.
    const probe = (k: number) => ({ trapped: k >= 1000, fuel: k });
    expect(firstTrappingCapWithin(1000, 20_000, probe)).toBe(1000);
    expect(firstTrappingCapWithin(1000, 2_000, probe)).toBeUndefined();
  });
});
