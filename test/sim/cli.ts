import { readdirSync } from "node:fs";
import { add, CI_SEEDS, formatSummary, summarize } from "./batch.js";
import { MUTATIONS, measure, scenariosCatching } from "./mutations.js";
import { type RunReport, runSeed } from "./simulator.js";

/**
 * `npm run sim -- --seeds N [--seed S]`: runs N seeds starting at S (default 1) with a progress
 * line, prints a summary (seeds by cluster size and fault), and for every failing seed the
 * failure and the command that replays it exactly.
 *
 * `npm run sim -- --mutant NAME|all [--seeds N] [--seed S]`: runs the seeds (by default the CI
 * seeds) against deliberate bugs from mutations.ts and prints how many seeds catch each.
 */
const USAGE = "usage: npm run sim -- [--seeds N] [--seed S] [--mutant NAME|all [--scenarios]]";

interface Args {
  readonly seeds: number;
  readonly start: number;
  readonly mutant: string | undefined;
  readonly explicitSeeds: boolean;
  /** With `--mutant`: also run the scripted scenario files against each mutant. */
  readonly scenarios: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  let seeds = 100;
  let start = 1;
  let single = false;
  let mutant: string | undefined;
  let scenarios = false;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const value = Number(argv[i + 1]);
    if (arg === "--scenarios") {
      scenarios = true;
    } else if (arg === "--mutant" && argv[i + 1] !== undefined) {
      mutant = argv[i + 1];
      i += 1;
    } else if (arg === "--seeds" && Number.isSafeInteger(value) && value > 0) {
      seeds = value;
      i += 1;
    } else if (arg === "--seed" && Number.isSafeInteger(value) && value >= 0) {
      start = value;
      single = true;
      i += 1;
    } else {
      throw new Error(`${USAGE} (bad argument ${arg})`);
    }
  }
  if (single && !argv.includes("--seeds")) {
    seeds = 1;
  }
  return { seeds, start, mutant, explicitSeeds: single || argv.includes("--seeds"), scenarios };
}

async function runMutants(args: Args): Promise<void> {
  const chosen = MUTATIONS.filter((m) => args.mutant === "all" || m.name === args.mutant);
  if (chosen.length === 0) {
    throw new Error(`${USAGE}; mutants: ${MUTATIONS.map((m) => m.name).join(", ")}`);
  }
  const seeds = args.explicitSeeds
    ? Array.from({ length: args.seeds }, (_, i) => args.start + i)
    : CI_SEEDS;
  const scenarioFiles = args.scenarios
    ? readdirSync(new URL(".", import.meta.url))
        .filter((file) => file.endsWith("scenarios.test.ts"))
        .map((file) => `test/sim/${file}`)
    : [];
  console.log(
    `| Rule | Deliberate bug | Seeds that catch it (of ${seeds.length}) | First | First failure | Scenario files that catch it |`,
  );
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const mutation of chosen) {
    const found = await measure(mutation, seeds, false);
    const rate = `${found.caught} (${((100 * found.caught) / found.seeds).toFixed(1)}%)`;
    const failure = (found.firstFailure ?? "").replace(/\|/g, "/").slice(0, 120);
    const scenarios = args.scenarios ? scenariosCatching(mutation, scenarioFiles).join(", ") : "";
    console.log(
      `| ${mutation.rule} | ${mutation.name}: ${mutation.bug} | ${rate} | ${found.firstCaughtSeed ?? "-"} | ${failure} | ${scenarios || "-"} |`,
    );
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.mutant !== undefined) {
    await runMutants(args);
    return;
  }
  const { seeds, start } = args;
  const summary = summarize([]);
  const failed: RunReport[] = [];
  const startedMs = performance.now();
  let lastProgressMs = startedMs;
  for (let seed = start; seed < start + seeds; seed += 1) {
    const report = await runSeed(seed);
    add(summary, report);
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
    const nowMs = performance.now();
    if (nowMs - lastProgressMs >= 5000 && seed < start + seeds - 1) {
      lastProgressMs = nowMs;
      const done = seed - start + 1;
      const rate = done / ((nowMs - startedMs) / 1000);
      console.log(
        `progress: ${done}/${seeds} seeds, ${failed.length} failed, ${rate.toFixed(0)} seeds/s, ` +
          `about ${Math.ceil((seeds - done) / rate)} s left`,
      );
    }
  }
  const seconds = (performance.now() - startedMs) / 1000;
  console.log(`seeds ${start}..${start + seeds - 1} in ${seconds.toFixed(1)} s:`);
  for (const line of formatSummary(summary)) {
    console.log(line);
  }
  process.exitCode = failed.length === 0 ? 0 : 1;
}

void main();
