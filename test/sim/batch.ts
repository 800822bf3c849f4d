import { FAULT_KINDS, type FaultKind, type RunReport } from "./simulator.js";

/**
 * The fixed seeds `npm test` runs: 100 per cluster size (sizes go in turn by `seed % 5`), with
 * every fault kind enabled in each size. `npm run sim -- --seeds 20000` is the nightly batch.
 */
export const CI_SEEDS: readonly number[] = Array.from({ length: 500 }, (_, i) => i + 1);

/** Totals over many runs, for the CLI's summary and the CI test's coverage assertions. */
export interface BatchSummary {
  seeds: number;
  failed: number;
  chosenSlots: number;
  completedOps: number;
  indeterminateOps: number;
  rejectedOps: number;
  batchedCommands: number;
  /** Session steps acknowledged to the simulated game players. */
  sessionSteps: number;
  /** Seeds by cluster size. */
  seedsBySize: Record<number, number>;
  /** Seeds by `size:fault` for every fault kind a seed enabled. */
  seedsBySizeAndFault: Record<string, number>;
  /** Injections per fault kind. */
  faultEvents: Record<FaultKind, number>;
  delivered: Record<string, number>;
  /** What the simulated disks injected, by kind. */
  diskFaults: Record<string, number>;
}

/** Adds up `reports`. */
export function summarize(reports: readonly RunReport[]): BatchSummary {
  const summary: BatchSummary = {
    seeds: 0,
    failed: 0,
    chosenSlots: 0,
    completedOps: 0,
    indeterminateOps: 0,
    rejectedOps: 0,
    batchedCommands: 0,
    sessionSteps: 0,
    seedsBySize: {},
    seedsBySizeAndFault: {},
    faultEvents: Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<
      FaultKind,
      number
    >,
    delivered: {},
    diskFaults: {},
  };
  for (const report of reports) {
    add(summary, report);
  }
  return summary;
}

/** Adds one report to `summary`. */
export function add(summary: BatchSummary, report: RunReport): void {
  summary.seeds += 1;
  summary.failed += report.ok ? 0 : 1;
  summary.chosenSlots += report.chosenSlots;
  summary.completedOps += report.completedOps;
  summary.indeterminateOps += report.indeterminateOps;
  summary.rejectedOps += report.rejectedOps;
  summary.batchedCommands += report.batchedCommands;
  summary.sessionSteps += report.sessionSteps;
  summary.seedsBySize[report.replicas] = (summary.seedsBySize[report.replicas] ?? 0) + 1;
  for (const kind of report.enabledFaults) {
    const key = `${report.replicas}:${kind}`;
    summary.seedsBySizeAndFault[key] = (summary.seedsBySizeAndFault[key] ?? 0) + 1;
  }
  for (const kind of FAULT_KINDS) {
    summary.faultEvents[kind] += report.faultEvents[kind];
  }
  for (const [type, count] of Object.entries(report.deliveredByType)) {
    summary.delivered[type] = (summary.delivered[type] ?? 0) + count;
  }
  for (const [kind, count] of Object.entries(report.diskFaults)) {
    summary.diskFaults[kind] = (summary.diskFaults[kind] ?? 0) + count;
  }
}

/** The summary as a few lines of text. */
export function formatSummary(summary: BatchSummary): string[] {
  const sizes = Object.keys(summary.seedsBySize)
    .map(Number)
    .sort((a, b) => a - b);
  const lines = [
    `${summary.seeds - summary.failed} passed, ${summary.failed} failed; ` +
      `${summary.chosenSlots} slots chosen, ${summary.completedOps} ops completed, ` +
      `${summary.indeterminateOps} indeterminate, ${summary.rejectedOps} NotLeader, ` +
      `${summary.batchedCommands} commands through applyBatch, ` +
      `${summary.sessionSteps} session steps acknowledged`,
    `seeds by cluster size: ${sizes.map((size) => `${size}=${summary.seedsBySize[size]}`).join(" ")}`,
    `seeds by fault enabled (per cluster size ${sizes.join("/")}):`,
  ];
  for (const kind of FAULT_KINDS) {
    const counts = sizes.map((size) => summary.seedsBySizeAndFault[`${size}:${kind}`] ?? 0);
    lines.push(`  ${kind.padEnd(20)} ${counts.join("/")}`);
  }
  lines.push(
    `fault events: ${FAULT_KINDS.map((kind) => `${kind}=${summary.faultEvents[kind]}`).join(" ")}`,
    `disk faults: ${Object.entries(summary.diskFaults)
      .map(([kind, count]) => `${kind}=${count}`)
      .join(" ")}`,
    `messages delivered: ${Object.entries(summary.delivered)
      .map(([type, count]) => `${type}=${count}`)
      .join(" ")}`,
  );
  return lines;
}
