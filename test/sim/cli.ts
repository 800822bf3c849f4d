import { FAULT_KINDS, type RunReport, runSeed } from "./simulator.js";

/**
 * `npm run sim -- --seeds N [--seed S]`: runs N seeds starting at S (default 1), prints a
 * summary, and for every failing seed the failure and the command that replays it exactly.
 */
function parseArgs(argv: readonly string[]): { seeds: number; start: number } {
  let seeds = 100;
  let start = 1;
  let single = false;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const value = Number(argv[i + 1]);
    if (arg === "--seeds" && Number.isSafeInteger(value) && value > 0) {
      seeds = value;
      i += 1;
    } else if (arg === "--seed" && Number.isSafeInteger(value) && value >= 0) {
      start = value;
      single = true;
      i += 1;
    } else {
      throw new Error(`usage: npm run sim -- [--seeds N] [--seed S] (bad argument ${arg})`);
    }
  }
  if (single && !argv.includes("--seeds")) {
    seeds = 1;
  }
  return { seeds, start };
}

async function main(): Promise<void> {
  const { seeds, start } = parseArgs(process.argv.slice(2));
  const failed: RunReport[] = [];
  const totals = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<string, number>;
  let ops = 0;
  let indeterminate = 0;
  let slots = 0;
  const delivered: Record<string, number> = {};
  const disk: Record<string, number> = {};
  for (let seed = start; seed < start + seeds; seed += 1) {
    const report = await runSeed(seed);
    ops += report.completedOps;
    indeterminate += report.indeterminateOps;
    slots += report.chosenSlots;
    for (const [type, count] of Object.entries(report.deliveredByType)) {
      delivered[type] = (delivered[type] ?? 0) + count;
    }
    for (const kind of FAULT_KINDS) {
      totals[kind] = (totals[kind] ?? 0) + report.faultEvents[kind];
    }
    for (const [kind, count] of Object.entries(report.diskFaults)) {
      disk[kind] = (disk[kind] ?? 0) + count;
    }
    if (!report.ok) {
      failed.push(report);
      console.log(
        `seed ${seed} FAILED (${report.replicas} replicas, faults ${report.enabledFaults.join(",")})`,
      );
      for (const failure of report.failures.slice(0, 5)) {
        console.log(`  ${failure}`);
      }
      console.log(`  replay: npm run sim -- --seed ${seed}`);
    }
  }
  console.log(
    `seeds ${start}..${start + seeds - 1}: ${seeds - failed.length} passed, ${failed.length} failed; ` +
      `${slots} slots chosen, ${ops} ops completed, ${indeterminate} indeterminate`,
  );
  console.log(`fault events: ${FAULT_KINDS.map((kind) => `${kind}=${totals[kind]}`).join(" ")}`);
  console.log(
    `disk faults: ${Object.entries(disk)
      .map(([kind, count]) => `${kind}=${count}`)
      .join(" ")}`,
  );
  console.log(
    `messages delivered: ${Object.entries(delivered)
      .map(([type, count]) => `${type}=${count}`)
      .join(" ")}`,
  );
  process.exitCode = failed.length === 0 ? 0 : 1;
}

void main();
