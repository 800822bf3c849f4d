/**
 * Consensus benchmark: commits/s and commit latency of the single-node engine (the baseline),
 * three in-memory Multi-Paxos replicas with one command per slot, and three replicas batching.
 * Each case is a closed loop: `concurrency` proposals are kept in flight until a fixed number of
 * commits have committed. tinybench times one closed loop per iteration (after its own warm-up
 * iterations), so commits/s is the commits per loop divided by the mean loop time, and its
 * relative margin of error and sample count show how steady that rate was. Run with
 * `npx tsx bench/consensus.bench.ts` or `npm run bench -- consensus`.
 */
import { pathToFileURL } from "node:url";
import { Bench, type Task } from "tinybench";
import type { CoreOptions } from "../host/consensus/core/config.js";
import type { ConsensusEngine } from "../host/consensus/engine/engine.js";
import { MultiPaxosEngine } from "../host/consensus/engine/multi-paxos-engine.js";
import { seededRng } from "../host/consensus/engine/rng.js";
import { SingleNodeEngine } from "../host/consensus/engine/single-node-engine.js";
import { ManualTickSource } from "../host/consensus/engine/tick-source.js";
import type { StateMachine } from "../host/consensus/statemachine.js";
import { MemoryStorage } from "../host/consensus/storage/memory.js";
import { MemoryNetwork } from "../host/consensus/transport/memory.js";

/** A state machine that adds up command lengths: nearly free, so consensus cost dominates. */
class Counter implements StateMachine {
  private total = 0;

  apply(command: Uint8Array): Uint8Array {
    this.total += command.byteLength;
    return RESULT;
  }

  snapshot(): Uint8Array {
    return new TextEncoder().encode(String(this.total));
  }

  restore(snapshot: Uint8Array): void {
    this.total = Number(new TextDecoder().decode(snapshot));
  }
}

const RESULT = new Uint8Array([1]);
const PAYLOAD = new Uint8Array(64);

/**
 * tinybench settings shared by every case. Each task runs for at least `time` ms and at least
 * `iterations` closed loops, so a case yields enough samples for a margin of error even when one
 * loop is slow; the warm-up loops let the JIT compile the hot paths of that case's engines before
 * anything is timed. With the loop sizes below, the whole benchmark takes roughly 15 to 20 s.
 */
const BENCH_OPTIONS = {
  time: 3_000,
  iterations: 10,
  warmupTime: 500,
  warmupIterations: 3,
} as const;

/**
 * One case's closed loop over an already started engine. Every call of {@link runOnce} is one
 * tinybench iteration: it keeps `concurrency` proposals in flight until `commits` have committed.
 * Per-proposal latencies are kept only while {@link recording} is set, so that the percentiles
 * cover every measured iteration and no warm-up one.
 */
class ClosedLoop {
  /** Whether {@link runOnce} keeps per-proposal latencies; set only for tinybench's run phase. */
  recording = false;
  private readonly latencies: number[] = [];
  /**
   * The engines deduplicate by clientId and requestId, so request ids keep counting across
   * iterations (warm-up included); restarting them would turn later loops into duplicate retries.
   */
  private sequence = 0;

  constructor(
    private readonly engine: ConsensusEngine,
    readonly commits: number,
    private readonly concurrency: number,
  ) {}

  /** Runs one closed loop of {@link commits} commits and resolves once the last has committed. */
  runOnce(): Promise<void> {
    const { engine, commits, concurrency, latencies } = this;
    const record = this.recording;
    let issued = 0;
    let done = 0;
    return new Promise<void>((resolve, reject) => {
      const issue = (): void => {
        if (issued >= commits) {
          return;
        }
        issued += 1;
        const sequence = this.sequence;
        this.sequence += 1;
        const begin = performance.now();
        engine
          .propose(PAYLOAD, {
            // Client k sends ids 1, 2, 3, ...: one session per client, within its window.
            clientId: `bench-${sequence % concurrency}`,
            requestId: Math.floor(sequence / concurrency) + 1,
          })
          .then(() => {
            if (record) {
              latencies.push(performance.now() - begin);
            }
            done += 1;
            if (done === commits) {
              resolve();
            } else {
              issue();
            }
          }, reject);
      };
      for (let i = 0; i < concurrency; i += 1) {
        issue();
      }
    });
  }

  /** Returns the p50 and p99 proposal latencies in ms over every recorded proposal. */
  percentiles(): { readonly p50Ms: number; readonly p99Ms: number } {
    const sorted = Float64Array.from(this.latencies).sort();
    return {
      p50Ms: sorted[Math.floor(sorted.length * 0.5)] ?? 0,
      p99Ms: sorted[Math.floor(sorted.length * 0.99)] ?? 0,
    };
  }
}

/** A benchmark case whose engines are built, started and (for replicas) have elected a leader. */
interface BenchCase {
  readonly name: string;
  readonly loop: ClosedLoop;
  /** Stops the case's engines; safe to call more than once. */
  readonly stop: () => Promise<void>;
}

/** Wraps `stopAll` so that the afterAll hook and the final clean-up can both call it. */
function once(stopAll: () => Promise<void>): () => Promise<void> {
  let stopped: Promise<void> | undefined;
  return () => {
    stopped ??= stopAll();
    return stopped;
  };
}

async function singleNode(name: string, commits: number, concurrency: number): Promise<BenchCase> {
  const engine = new SingleNodeEngine({
    nodeId: "solo",
    storage: new MemoryStorage(),
    stateMachine: new Counter(),
  });
  await engine.start();
  return {
    name,
    loop: new ClosedLoop(engine, commits, concurrency),
    stop: once(() => engine.stop()),
  };
}

async function threeReplicas(
  name: string,
  commits: number,
  concurrency: number,
  coreOptions: Partial<CoreOptions>,
): Promise<BenchCase> {
  const network = new MemoryNetwork("immediate");
  const config = {
    members: [1, 2, 3].map((replicaId) => ({ nodeId: `r${replicaId}`, replicaId })),
  };
  const ticks: ManualTickSource[] = [];
  const engines = config.members.map((member) => {
    const tickSource = new ManualTickSource();
    ticks.push(tickSource);
    return new MultiPaxosEngine({
      nodeId: member.nodeId,
      config,
      storage: new MemoryStorage(),
      transport: network.endpoint(member.replicaId),
      stateMachine: new Counter(),
      rng: seededRng(member.replicaId),
      tickSource,
      coreOptions: { electionTimeoutTicks: 10, heartbeatIntervalTicks: 2, ...coreOptions },
      snapshotIntervalSlots: 20_000,
      retainSlots: 2_000,
      proposalTimeoutTicks: 1_000_000,
    });
  });
  const stop = once(async () => {
    for (const engine of engines) {
      await engine.stop();
    }
  });
  for (const engine of engines) {
    await engine.start();
  }
  // Elect a leader with logical ticks. No ticks are given afterwards, so the leader stays the
  // same through warm-up and measurement, however long the other cases take in between.
  let leader: MultiPaxosEngine | undefined;
  for (let round = 0; round < 1000 && leader === undefined; round += 1) {
    for (const tick of ticks) {
      tick.tick();
    }
    await new Promise((resolve) => setImmediate(resolve));
    leader = engines.find((engine) => engine.isLeader());
  }
  if (leader === undefined) {
    await stop();
    throw new Error(`${name}: no leader elected`);
  }
  return { name, loop: new ClosedLoop(leader, commits, concurrency), stop };
}

/** Returns the completed statistics of `task`, failing loudly if the task did not complete. */
function completed(task: Task) {
  const result = task.result;
  if (result.state !== "completed") {
    throw new Error(`task "${task.name}" ended in state ${result.state}`);
  }
  return result;
}

/** Runs every case and prints commits/s, p50/p99 latency and ratios against the single node. */
export async function runConsensusBench(): Promise<void> {
  // Engines are built before tinybench starts so that construction and leader election are never
  // timed. Commits per loop are sized so that one loop takes roughly 0.1 to 0.3 s.
  const cases: BenchCase[] = [];
  try {
    cases.push(await singleNode("single-node engine", 50_000, 4_000));
    cases.push(
      await threeReplicas("3 replicas, unbatched (1 command/slot)", 20_000, 256, {
        maxBatchCommands: 1,
        windowSlots: 256,
      }),
    );
    cases.push(
      await threeReplicas("3 replicas, batched (<=1024 commands/slot)", 50_000, 4_000, {
        maxBatchCommands: 1024,
        windowSlots: 64,
      }),
    );
    cases.push(
      await threeReplicas("3 replicas, batched, 256 in flight", 50_000, 256, {
        maxBatchCommands: 1024,
        windowSlots: 64,
      }),
    );

    // `throws` makes a failed proposal abort the run instead of leaving an "errored" task behind.
    const bench = new Bench({ name: "consensus", throws: true, ...BENCH_OPTIONS });
    for (const benchCase of cases) {
      const { loop } = benchCase;
      bench.add(benchCase.name, () => loop.runOnce(), {
        async: true,
        // tinybench calls this once per phase; latencies are recorded in the run phase only.
        beforeAll: (mode) => {
          loop.recording = mode === "run";
        },
        // After the run phase the engines are no longer needed, so free them before the next case.
        afterAll: async (mode) => {
          loop.recording = false;
          if (mode === "run") {
            await benchCase.stop();
          }
        },
      });
    }
    await bench.run();

    const measured = cases.map((benchCase) => {
      const task = bench.getTask(benchCase.name);
      if (task === undefined) {
        throw new Error(`task "${benchCase.name}" is missing`);
      }
      const { latency } = completed(task);
      // The mean loop time gives the same rate as total commits over total time, as before.
      const rate = (benchCase.loop.commits * 1000) / latency.mean;
      return { benchCase, rate, latency };
    });
    const baseRate = measured[0]?.rate;
    const rows = measured.map(({ benchCase, rate, latency }) => {
      const { p50Ms, p99Ms } = benchCase.loop.percentiles();
      return {
        case: benchCase.name,
        "commits/s": Math.round(rate),
        "p50 ms": Number(p50Ms.toFixed(3)),
        "p99 ms": Number(p99Ms.toFixed(3)),
        "vs single-node": `${(rate / (baseRate ?? rate)).toFixed(2)}x`,
        "± %": Number(latency.rme.toFixed(2)),
        samples: latency.samplesCount,
      };
    });
    console.table(rows);
  } finally {
    // A failed task skips its afterAll hook, so stop whatever is still running here.
    for (const benchCase of cases) {
      await benchCase.stop();
    }
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  await runConsensusBench();
}
