/**
 * `npm run bench -- cluster` (or `npx tsx bench/cluster.bench.ts`): durable commits through a
 * 3-process cluster (TCP on loopback, WAL with fdatasync), measured from gRPC clients:
 *
 * - 64 concurrent clients doing Put (closed loop): commits/s, p50 and p99;
 * - one sequential client: p50, against one fdatasync plus one loopback round trip, both measured
 *   in the same run on the same disk;
 * - the single-node engine with the WAL, in process, 64 concurrent proposers: the baseline.
 *
 * Needs `npm run build` (the nodes run from dist/).
 */
import { mkdtemp, open, rm } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SingleNodeEngine } from "../host/consensus/engine/single-node-engine.js";
import { WalStorage } from "../host/consensus/storage/wal/wal-storage.js";
import { ConsoleStateMachine } from "../host/replication/console-state-machine.js";
import { encodeKvCommand } from "../host/replication/kv/kv-commands.js";
import { KvStore } from "../host/replication/kv/kv-store.js";
import { KvClient, TestCluster } from "../test/e2e/cluster-harness.js";

const CONCURRENT_CLIENTS = 64;
const RUN_MS = 5000;
const SEQUENTIAL_PUTS = 300;
const VALUE = "x".repeat(64);

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
}

function summary(latenciesMs: number[], elapsedMs: number): string {
  latenciesMs.sort((a, b) => a - b);
  const rate = (latenciesMs.length / elapsedMs) * 1000;
  return `${Math.round(rate)} commits/s, p50 ${percentile(latenciesMs, 50).toFixed(2)} ms, p99 ${percentile(latenciesMs, 99).toFixed(2)} ms (${latenciesMs.length} commits)`;
}

/** Closed loop: each worker runs `op` until the time is up; returns latencies and elapsed time. */
async function closedLoop(
  workers: number,
  op: (worker: number, i: number) => Promise<unknown>,
): Promise<{ latencies: number[]; elapsedMs: number }> {
  const latencies: number[] = [];
  const start = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = 0; performance.now() - start < RUN_MS; i++) {
        const t0 = performance.now();
        await op(w, i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { latencies, elapsedMs: performance.now() - start };
}

/** p50 of write(64 bytes) + fdatasync on a file in `dir`. */
async function fdatasyncP50(dir: string): Promise<number> {
  const file = await open(join(dir, "fsync-probe"), "w");
  const samples: number[] = [];
  const data = Buffer.alloc(64, 1);
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    await file.write(data);
    await file.datasync();
    samples.push(performance.now() - t0);
  }
  await file.close();
  samples.sort((a, b) => a - b);
  return percentile(samples, 50);
}

/** p50 of one 64-byte ping-pong over a loopback TCP connection. */
async function loopbackRoundTripP50(): Promise<number> {
  const server = createServer((socket) => socket.on("data", (chunk) => socket.write(chunk)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const socket = connect(port, "127.0.0.1");
  socket.setNoDelay(true);
  await new Promise((resolve) => socket.once("connect", resolve));
  const samples: number[] = [];
  const data = Buffer.alloc(64, 2);
  for (let i = 0; i < 500; i++) {
    const t0 = performance.now();
    const reply = new Promise((resolve) => socket.once("data", resolve));
    socket.write(data);
    await reply;
    samples.push(performance.now() - t0);
  }
  socket.destroy();
  server.close();
  samples.sort((a, b) => a - b);
  return percentile(samples, 50);
}

async function clusterRuns(): Promise<void> {
  const cluster = await TestCluster.create();
  try {
    await cluster.startAll();
    const leader = await cluster.leader();
    const clients = Array.from(
      { length: CONCURRENT_CLIENTS },
      (_, i) => new KvClient(cluster, `bench-${i}`),
    );
    // Send straight to the leader: forwarding would measure two hops.
    const leaderIndex = cluster.nodes.indexOf(leader);
    for (const client of clients) client.preferNode(leaderIndex);
    await clients[0]?.put("warm-up", VALUE);
    const concurrent = await closedLoop(CONCURRENT_CLIENTS, (w, i) =>
      (clients[w] as KvClient).put(`k${w}-${i % 1000}`, VALUE),
    );
    console.log(
      `3-process cluster, ${CONCURRENT_CLIENTS} clients Put: ${summary(concurrent.latencies, concurrent.elapsedMs)}`,
    );
    const sequential = new KvClient(cluster, "bench-sequential");
    sequential.preferNode(leaderIndex);
    const samples: number[] = [];
    for (let i = 0; i < SEQUENTIAL_PUTS; i++) {
      const t0 = performance.now();
      await sequential.put(`seq-${i % 100}`, VALUE);
      samples.push(performance.now() - t0);
    }
    samples.sort((a, b) => a - b);
    const fsync = await fdatasyncP50(cluster.dir);
    const rtt = await loopbackRoundTripP50();
    const p50 = percentile(samples, 50);
    console.log(
      `1 sequential client Put: p50 ${p50.toFixed(2)} ms; fdatasync p50 ${fsync.toFixed(2)} ms + loopback RTT p50 ${rtt.toFixed(3)} ms = ${(fsync + rtt).toFixed(2)} ms; ratio ${(p50 / (fsync + rtt)).toFixed(2)}x`,
    );
  } finally {
    await cluster.destroy();
  }
}

async function singleNodeBaseline(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "cartridge-bench-wal-"));
  const storage = new WalStorage({ dir });
  const engine = new SingleNodeEngine({
    nodeId: "1",
    storage,
    stateMachine: new ConsoleStateMachine([new KvStore()]),
  });
  try {
    await engine.start();
    const requestIds = new Array<number>(CONCURRENT_CLIENTS).fill(0);
    const run = await closedLoop(CONCURRENT_CLIENTS, (w, i) => {
      requestIds[w] = (requestIds[w] ?? 0) + 1;
      return engine.propose(
        encodeKvCommand({ op: "put", key: `k${w}-${i % 1000}`, value: Buffer.from(VALUE) }),
        {
          clientId: `bench-${w}`,
          requestId: requestIds[w] ?? 1,
        },
      );
    });
    console.log(
      `single-node engine + WAL, in process, ${CONCURRENT_CLIENTS} proposers: ${summary(run.latencies, run.elapsedMs)}`,
    );
  } finally {
    await engine.stop();
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function runClusterBench(): Promise<void> {
  console.log("(the machine is shared: numbers vary with the load of other processes)");
  await singleNodeBaseline();
  await clusterRuns();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runClusterBench();
}
