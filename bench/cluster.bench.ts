/**
 * `npm run bench -- cluster` (or `npx tsx bench/cluster.bench.ts`): durable commits through a
 * 3-process cluster (TCP on loopback, WAL with fdatasync), measured from gRPC clients:
 *
 * - 64 concurrent clients doing Put (closed loop): commits/s, p50 and p99, and the CPU time each
 *   process spent per commit (leader, followers, the client process; from /proc, so it holds
 *   up on a loaded machine where wall-clock rates do not);
 * - one sequential client: p50, against one fdatasync plus one loopback round trip, both measured
 *   in the same run on the same disk;
 * - the gRPC floor: the same two loads against a bare grpc-js server in a child process whose
 *   handler answers at once (what any service of one unary call per commit can reach here);
 * - the single-node engine with the WAL, in process, 64 concurrent proposers: the baseline;
 * - with `--tls` (or CARTRIDGE_BENCH_TLS=1), the same cluster again with every gRPC port on TLS
 *   with client certificates and a tokens file and the consensus peers on mutual TLS: the cost of
 *   TLS on durable commits/s, as a ratio to the plaintext run before it (issue 12).
 *
 * Needs `npm run build` (the nodes run from dist/).
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { credentials, Metadata, Server, ServerCredentials } from "@grpc/grpc-js";
import { SingleNodeEngine } from "../host/consensus/engine/single-node-engine.js";
import { WalStorage } from "../host/consensus/storage/wal/wal-storage.js";
import {
  ClusterClient,
  ClusterService,
  PutResponse,
} from "../host/proto/generated/cluster/v1/cluster.js";
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

/** CPU time (user + system) a process has used so far, in ms; undefined off Linux. */
function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks of 10 ms
  } catch {
    return undefined;
  }
}

/** "µs per commit" of a CPU time difference. */
function perCommit(beforeMs: number | undefined, afterMs: number | undefined, n: number): string {
  if (beforeMs === undefined || afterMs === undefined || n === 0) return "?";
  return `${Math.round(((afterMs - beforeMs) * 1000) / n)}`;
}

/** One run of the cluster loads; returns the concurrent rate (commits/s) and sequential p50. */
async function clusterRun(secure: boolean): Promise<{ rate: number; p50: number }> {
  const cluster = await TestCluster.create({ mutualTls: secure, secureGrpc: secure });
  const label = secure ? "3-process cluster, TLS everywhere" : "3-process cluster";
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
    for (let i = 0; i < 50; i++) await clients[0]?.put(`warm-up-${i}`, VALUE);
    const cpuBefore = cluster.nodes.map((node) => cpuMs(node.child?.pid));
    const ownBefore = process.cpuUsage();
    const concurrent = await closedLoop(CONCURRENT_CLIENTS, (w, i) =>
      (clients[w] as KvClient).put(`k${w}-${i % 1000}`, VALUE),
    );
    const own = process.cpuUsage(ownBefore);
    const cpuAfter = cluster.nodes.map((node) => cpuMs(node.child?.pid));
    const n = concurrent.latencies.length;
    const rate = (n / concurrent.elapsedMs) * 1000;
    console.log(
      `${label}, ${CONCURRENT_CLIENTS} clients Put: ${summary(concurrent.latencies, concurrent.elapsedMs)}`,
    );
    const followers = cluster.nodes
      .map((_, i) => i)
      .filter((i) => i !== leaderIndex)
      .map((i) => perCommit(cpuBefore[i], cpuAfter[i], n));
    console.log(
      `  CPU µs per commit: leader ${perCommit(cpuBefore[leaderIndex], cpuAfter[leaderIndex], n)}, followers ${followers.join(" and ")}, client process ${Math.round((own.user + own.system) / n)}`,
    );
    const retries = new Map<string, number>();
    for (const client of clients) {
      for (const [name, count] of client.retries)
        retries.set(name, (retries.get(name) ?? 0) + count);
    }
    console.log(`  retried attempts: ${JSON.stringify(Object.fromEntries(retries))}`);
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
    return { rate, p50 };
  } finally {
    await cluster.destroy();
  }
}

/** The floor server's role: a Cluster service whose Put answers at once (no consensus, no disk). */
function runFloorServer(): void {
  const server = new Server();
  const put = (_call: unknown, callback: (error: null, response: PutResponse) => void) =>
    callback(null, PutResponse.fromPartial({ version: 1n, index: 1n }));
  server.addService(ClusterService, { put } as never);
  server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, port) => {
    if (error !== null) throw error;
    process.stdout.write(`PORT ${port}\n`);
  });
}

/** The same loads as a cluster run against the floor server in a child process. */
async function grpcFloor(): Promise<void> {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
    env: { ...process.env, CARTRIDGE_BENCH_ROLE: "floor" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const port = await new Promise<number>((ok, fail) => {
      child.once("exit", (code) => fail(new Error(`floor server exited early (${code})`)));
      createInterface({ input: child.stdout }).on("line", (line) => {
        const match = /^PORT (\d+)$/.exec(line);
        if (match !== null) ok(Number(match[1]));
      });
    });
    const client = new ClusterClient(`127.0.0.1:${port}`, credentials.createInsecure());
    const put = () =>
      new Promise((ok, fail) => {
        const request = { clientId: "floor", requestId: 1n, key: "k", value: Buffer.from(VALUE) };
        client.put(request, new Metadata(), { deadline: Date.now() + 3000 }, (error, response) =>
          error === null ? ok(response) : fail(error),
        );
      });
    for (let i = 0; i < 200; i++) await put();
    const cpuBefore = cpuMs(child.pid);
    const ownBefore = process.cpuUsage();
    const run = await closedLoop(CONCURRENT_CLIENTS, () => put());
    const own = process.cpuUsage(ownBefore);
    const n = run.latencies.length;
    console.log(
      `gRPC floor (bare grpc-js Put answered at once), ${CONCURRENT_CLIENTS} clients: ${summary(run.latencies, run.elapsedMs).replace("commits", "calls").replace("commits", "calls")}`,
    );
    console.log(
      `  CPU µs per call: server ${perCommit(cpuBefore, cpuMs(child.pid), n)}, client process ${Math.round((own.user + own.system) / n)}`,
    );
    const samples: number[] = [];
    for (let i = 0; i < SEQUENTIAL_PUTS; i++) {
      const t0 = performance.now();
      await put();
      samples.push(performance.now() - t0);
    }
    samples.sort((a, b) => a - b);
    console.log(`  1 sequential client: p50 ${percentile(samples, 50).toFixed(2)} ms`);
    client.close();
  } finally {
    child.kill();
  }
}

async function clusterRuns(tls: boolean): Promise<void> {
  const plain = await clusterRun(false);
  if (!tls) return;
  const secure = await clusterRun(true);
  console.log(
    `TLS cost on durable commits: ${(secure.rate / plain.rate).toFixed(2)}x the plaintext commits/s, sequential p50 ${(secure.p50 / plain.p50).toFixed(2)}x`,
  );
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

export async function runClusterBench(
  tls = process.env.CARTRIDGE_BENCH_TLS === "1" || process.argv.includes("--tls"),
): Promise<void> {
  console.log("(the machine is shared: numbers vary with the load of other processes)");
  await singleNodeBaseline();
  await grpcFloor();
  await clusterRuns(tls);
}

if (process.env.CARTRIDGE_BENCH_ROLE === "floor") {
  runFloorServer();
} else if (
  process.argv[1] !== undefined &&
  resolve(process.argv[1]) === fileURLToPath(import.meta.url)
) {
  await runClusterBench();
}
