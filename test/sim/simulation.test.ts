import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FAULT_KINDS, type RunReport, runSeed } from "./simulator.js";

/** The fixed seeds `npm test` runs; every fault kind is enabled by hundreds of them. */
const FIXED_SEEDS = Array.from({ length: 2000 }, (_, i) => i + 1);

function describeFailure(report: RunReport): string {
  return `seed ${report.seed}: ${report.failures.join("; ")} (replay: npm run sim -- --seed ${report.seed})`;
}

describe("seeded simulation", () => {
  // The budget covers a loaded 2-core machine; a run takes about 35 s of CPU.
  it(`keeps safety, liveness and linearizability for ${FIXED_SEEDS.length} fixed seeds`, {
    timeout: 240_000,
  }, async () => {
    const failures: string[] = [];
    const faultTotals = new Map<string, number>();
    const delivered = new Map<string, number>();
    let chosenSlots = 0;
    for (const seed of FIXED_SEEDS) {
      const report = await runSeed(seed);
      if (!report.ok) {
        failures.push(describeFailure(report));
      }
      chosenSlots += report.chosenSlots;
      for (const [type, count] of Object.entries(report.deliveredByType)) {
        delivered.set(type, (delivered.get(type) ?? 0) + count);
      }
      for (const kind of FAULT_KINDS) {
        faultTotals.set(kind, (faultTotals.get(kind) ?? 0) + report.faultEvents[kind]);
      }
    }
    expect(failures).toEqual([]);
    for (const kind of FAULT_KINDS) {
      expect(faultTotals.get(kind), `fault kind ${kind} was never injected`).toBeGreaterThan(0);
    }
    expect(chosenSlots).toBeGreaterThan(FIXED_SEEDS.length * 10);
    // The runs exercise catch-up, snapshots, gap repair and ballot conflicts, not only the
    // happy path.
    for (const type of ["installSnapshot", "learn", "acceptGap", "nack", "prepare", "promise"]) {
      expect(delivered.get(type) ?? 0, `no ${type} message was delivered`).toBeGreaterThan(0);
    }
  });

  it("replays a seed exactly", async () => {
    for (const seed of [7, 42, 1234]) {
      expect(await runSeed(seed)).toEqual(await runSeed(seed));
    }
  });

  it("holds for seeds fast-check draws (shrinking to the smallest failing seed)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 10_000, max: 2 ** 30 }), async (seed) => {
        const report = await runSeed(seed);
        if (!report.ok) {
          throw new Error(describeFailure(report));
        }
      }),
      { numRuns: 60, seed: 20_261_122 },
    );
  });
});
