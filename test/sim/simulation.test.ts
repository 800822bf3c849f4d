import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CI_SEEDS, summarize } from "./batch.js";
import { CLUSTER_SIZES, FAULT_KINDS, type RunReport, runSeed } from "./simulator.js";

function describeFailure(report: RunReport): string {
  return `seed ${report.seed}: ${report.failures.join("; ")} (replay: npm run sim -- --seed ${report.seed})`;
}

describe("seeded simulation", () => {
  it(`keeps safety, liveness and linearizability for ${CI_SEEDS.length} fixed seeds`, () => {
    const reports = CI_SEEDS.map((seed) => runSeed(seed));
    expect(reports.filter((report) => !report.ok).map(describeFailure)).toEqual([]);
    const summary = summarize(reports);
    for (const size of CLUSTER_SIZES) {
      expect(summary.seedsBySize[size], `no ${size}-replica seeds`).toBeGreaterThanOrEqual(90);
      for (const kind of FAULT_KINDS) {
        expect(
          summary.seedsBySizeAndFault[`${size}:${kind}`] ?? 0,
          `fault ${kind} never enabled with ${size} replicas`,
        ).toBeGreaterThan(0);
      }
    }
    for (const kind of FAULT_KINDS) {
      expect(summary.faultEvents[kind], `fault kind ${kind} was never injected`).toBeGreaterThan(0);
    }
    expect(summary.chosenSlots).toBeGreaterThan(CI_SEEDS.length * 10);
    expect(summary.batchedCommands, "the batched apply path never ran").toBeGreaterThan(100);
    expect(summary.rejectedOps, "no request was answered NotLeader").toBeGreaterThan(100);
    // The runs exercise catch-up, snapshots, gap repair, ballot conflicts and chunked phase-1
    // reports, not only the happy path.
    for (const type of [
      "installSnapshot",
      "learn",
      "acceptGap",
      "nack",
      "prepare",
      "promise",
      "prepareChunk",
    ]) {
      expect(summary.delivered[type] ?? 0, `no ${type} message was delivered`).toBeGreaterThan(0);
    }
  });

  it("replays a seed exactly", () => {
    for (const seed of [7, 42, 1234]) {
      expect(runSeed(seed)).toEqual(runSeed(seed));
    }
  });

  it("holds for seeds fast-check draws (shrinking to the smallest failing seed)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 10_000, max: 2 ** 30 }), (seed) => {
        const report = runSeed(seed);
        if (!report.ok) {
          throw new Error(describeFailure(report));
        }
      }),
      { numRuns: 25, seed: 20_261_122 },
    );
  });
});
