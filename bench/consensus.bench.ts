/**
 * Consensus benchmark: commits/s and commit latency of the single-node engine (the baseline),
 * three in-memory Multi-Paxos replicas with one command per slot, and three replicas batching.
 * Each case is a closed loop: `concurrency` proposals are kept in flight until `commits` have
 * committed. Run with `npx tsx bench/consensus.bench.ts` or `npm run bench -- consensus`.
 */
import { pathToFileURL } from "node:url";
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

interface CaseResult {
  readonly name: string;
  readonly commits: number;
  readonly seconds: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

async function closedLoop(
  name: string,
  engine: ConsensusEngine,
  commits: number,
  concurrency: number,
): Promise<CaseResult> {
  const latencies = new Float64Array(commits);
  let issued = 0;
  let done = 0;
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const issue = (): void => {
      if (issued >= commits) {
        return;
      }
      const slot = issued;
      issued += 1;
      const begin = performance.now();
      engine
        .propose(PAYLOAD, { clientId: `bench-${slot % concurrency}`, requestId: slot + 1 })
        .then(() => {
          latencies[slot] = performance.now() - begin;
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
  const seconds = (performance.now() - started) / 1000;
  const sorted = Array.from(latencies).sort((a, b) => a - b);
  return {
    name,
    commits,
    seconds,
    p50Ms: sorted[Math.floor(commits * 0.5)] ?? 0,
    p99Ms: sorted[Math.floor(commits * 0.99)] ?? 0,
  };
}

async function singleNode(commits: number, concurrency: number): Promise<CaseResult> {
  const engine = new SingleNodeEngine({
    nodeId: "solo",
    storage: new MemoryStorage(),
    stateMachine: new Counter(),
  });
  await engine.start();
  const result = await closedLoop("single-node engine", engine, commits, concurrency);
  await engine.stop();
  return result;
}

async function threeReplicas(
  name: string,
  commits: number,
  concurrency: number,
  coreOptions: Partial<CoreOptions>,
): Promise<CaseResult> {
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
  for (const engine of engines) {
    await engine.start();
  }
  // Elect a leader with logical ticks; no ticks are needed while measuring.
  let leader: MultiPaxosEngine | undefined;
  for (let round = 0; round < 1000 && leader === undefined; round += 1) {
    for (const tick of ticks) {
      tick.tick();
    }
    await new Promise((resolve) => setImmediate(resolve));
    leader = engines.find((engine) => engine.isLeader());
  }
  if (leader === undefined) {
    throw new Error("no leader elected");
  }
  const result = await closedLoop(name, leader, commits, concurrency);
  for (const engine of engines) {
    await engine.stop();
  }
  return result;
}

/** Runs every case and prints commits/s, p50/p99 latency and ratios against the single node. */
export async function runConsensusBench(): Promise<void> {
  const cases: CaseResult[] = [];
  // Warm-up runs so the JIT has compiled the hot paths before measuring.
  await singleNode(20_000, 1_000);
  await threeReplicas("warm-up", 20_000, 1_000, { maxBatchCommands: 1024 });
  cases.push(await singleNode(300_000, 4_000));
  cases.push(
    await threeReplicas("3 replicas, unbatched (1 command/slot)", 50_000, 256, {
      maxBatchCommands: 1,
      windowSlots: 256,
    }),
  );
  cases.push(
    await threeReplicas("3 replicas, batched (<=1024 commands/slot)", 300_000, 4_000, {
      maxBatchCommands: 1024,
      windowSlots: 64,
    }),
  );
  cases.push(
    await threeReplicas("3 replicas, batched, 256 in flight", 100_000, 256, {
      maxBatchCommands: 1024,
      windowSlots: 64,
    }),
  );
  const baseline = cases[0];
  const rows = cases.map((row) => {
    const rate = row.commits / row.seconds;
    const baseRate = baseline === undefined ? rate : baseline.commits / baseline.seconds;
    return {
      case: row.name,
      "commits/s": Math.round(rate),
      "p50 ms": Number(row.p50Ms.toFixed(3)),
      "p99 ms": Number(row.p99Ms.toFixed(3)),
      "vs single-node": `${(rate / baseRate).toFixed(2)}x`,
    };
  });
  console.table(rows);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  await runConsensusBench();
}
