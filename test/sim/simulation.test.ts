import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CI_SEEDS, summarize } from "./batch.js";
import {
  CLUSTER_SIZES,
  FAULT_KINDS,
  type RunReport,
  runSeed,
  seedParameters,
} from "./simulator.js";

function describeFailure(report: RunReport): string {
  return `seed ${report.seed}: ${report.failures.join("; ")} (replay: npm run sim -- --seed ${report.seed})`;
}

describe("seeded simulation", () => {
  const reports: RunReport[] = [];

  // One test per cluster size, each with its own budget: about 2 s of CPU each, but a loaded
  // 2-core machine may give a test a small share of a core.
  it.each(CLUSTER_SIZES)(
    "keeps safety, liveness and linearizability for the fixed seeds of %i replicas",
    { timeout: 240_000 },
    async (size) => {
      const failures: string[] = [];
      for (const seed of CI_SEEDS.filter((seed) => seedParameters(seed).replicas === size)) {
        const report = await runSeed(seed);
        reports.push(report);
        if (!report.ok) {
          failures.push(describeFailure(report));
        }
      }
      expect(failures).toEqual([]);
    },
  );

  it(`covered every size, fault kind and protocol path in the ${CI_SEEDS.length} fixed seeds`, () => {
    expect(reports.map((report) => report.seed).sort((a, b) => a - b)).toEqual(CI_SEEDS);
    const summary = summarize(reports);
    for (const size of CLUSTER_SIZES) {
      expect(summary.seedsBySize[size], `${size}-replica seeds`).toBe(CI_SEEDS.length / 5);
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
    expect(summary.sessionSteps, "no game session was stepped").toBeGreaterThan(100);
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
      { numRuns: 25, seed: 20_261_122 },
    );
  });
});
