/**
 * `npm run bench`: runs every benchmark in one process, one after the other, so that each prints
 * its ratios against the reference it measures in the same run. Pass names to run a subset:
 * `npm run bench -- runtime grpc consensus`.
 */
import { runClusterBench } from "./cluster.bench.js";
import { runConsensusBench } from "./consensus.bench.js";
import { runGrpcBench } from "./grpc.bench.js";
import { runRuntimeBench } from "./runtime.bench.js";
import { runSessionsBench } from "./sessions.bench.js";
import { runTlsBench } from "./tls.bench.js";
import { runWalBench } from "./wal.bench.js";
import { runWireBench } from "./wire.bench.js";

const benches: Record<string, () => Promise<void>> = {
  runtime: runRuntimeBench,
  grpc: runGrpcBench,
  consensus: runConsensusBench,
  wal: runWalBench,
  wire: runWireBench,
  cluster: runClusterBench,
  tls: runTlsBench,
  sessions: runSessionsBench,
};

// Flags (such as `--tls` for the cluster benchmark) are read by the benchmarks themselves.
const requested = process.argv.slice(2).filter((arg) => !arg.startsWith("--"));
const names = requested.length > 0 ? requested : Object.keys(benches);
for (const name of names) {
  const bench = benches[name];
  if (bench === undefined) {
    console.error(`unknown benchmark "${name}"; choose from ${Object.keys(benches).join(", ")}`);
    process.exit(2);
  }
  console.log(`\n=== ${name} ===`);
  await bench();
}
