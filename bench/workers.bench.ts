/**
 * Worker pool benchmark (issue 10), servers in a child process as in grpc.bench.ts:
 *
 * 1. BatchSimulate rollouts over 2 concurrent streams, aggregate steps/s, with 2 guest workers
 *    against 1 (rows counted, obs not requested). The streams' client runs in a second child
 *    process, so the server's CPU is measured alone: per row on the server's main thread (the
 *    delivery cost D: the hop from the workers, encoding, HTTP/2) and on its other threads (the
 *    rollout cost R), and on the client;
 * 2. unary Step p50/p99 idle, and while 4 BatchSimulate streams run (2 workers).
 *
 *   npx tsx bench/workers.bench.ts          (needs build/cartridges: npm run build)
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { EngineClient } from "../host/client/index.js";
import { createEngine, loadDirectory } from "../host/runtime/index.js";
import { startChild } from "./grpc.bench.js";
import { cpuSince, nsPerRow, processCpu } from "./proc-cpu.js";

const ENV_ID = "tictactoe-v1";
const EPISODES = Number(process.env.BENCH_EPISODES ?? 100_000);
const STEPS = Number(process.env.BENCH_STEPS ?? 2000);

async function stream(client: EngineClient, seed: number, episodes: number): Promise<number> {
  let rows = 0;
  for await (const chunk of client.batchSimulate({ envId: ENV_ID, rollouts: { seed, episodes } })) {
    rows += chunk.rows;
  }
  return rows;
}

/** What the client child reports for its measured streams. */
interface StreamsResult {
  readonly rows: number;
  readonly seconds: number;
  readonly clientCpuSeconds: number;
}

/**
 * The client child: `streams` concurrent streams, warmed up, then measured once the parent says
 * "go" on stdin (so the parent reads the server's CPU around exactly the measured streams).
 */
async function runClientRole(address: string, streams: number): Promise<void> {
  const clients = await Promise.all(
    Array.from({ length: streams }, () => EngineClient.connect(address)),
  );
  try {
    await Promise.all(clients.map((c, i) => stream(c, i, EPISODES / 4)));
    process.stdout.write("ready\n");
    await new Promise((resolve) => process.stdin.once("data", resolve));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const rows = await Promise.all(clients.map((c, i) => stream(c, i * EPISODES, EPISODES)));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const result: StreamsResult = {
      rows: rows.reduce((a, b) => a + b, 0),
      seconds,
      clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    for (const c of clients) c.close();
  }
}

interface StreamsRun extends StreamsResult {
  readonly serverCpuSeconds: number;
  readonly serverMainCpuSeconds: number;
}

/** Aggregate rate of `streams` concurrent rollout streams, the client in a child process. */
async function streamsRun(address: string, serverPid: number, streams: number) {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
    env: {
      ...process.env,
      CARTRIDGE_BENCH_ROLE: "client",
      CARTRIDGE_BENCH_ADDRESS: address,
      CARTRIDGE_BENCH_STREAMS: String(streams),
    },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  try {
    const ready = await lines.next();
    if (ready.done === true || ready.value !== "ready") throw new Error("bench client failed");
    const before = processCpu(serverPid);
    child.stdin!.write("go\n");
    const line = await lines.next();
    const server = cpuSince(before, processCpu(serverPid));
    if (line.done === true) throw new Error("bench client exited without a result");
    const result = JSON.parse(line.value) as StreamsResult;
    const run: StreamsRun = {
      ...result,
      serverCpuSeconds: server.totalSeconds,
      serverMainCpuSeconds: server.mainThreadSeconds,
    };
    return run;
  } finally {
    child.kill("SIGTERM");
  }
}

/** p50 and p99 of `STEPS` sequential Step calls, in ms. */
async function stepLatency(client: EngineClient, state: Uint8Array, action: Uint8Array) {
  const times: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    const t0 = performance.now();
    await client.step(ENV_ID, state, action);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99) };
}

function describe(workers: number, run: StreamsRun): string {
  const rate = run.rows / run.seconds;
  const ns = (seconds: number) => nsPerRow(seconds, run.rows).toFixed(0);
  return (
    `  2 streams, --workers ${workers}: ${(rate / 1e6).toFixed(2)} M steps/s aggregate; CPU per row: ` +
    `server ${ns(run.serverCpuSeconds)} ns (main thread D ${ns(run.serverMainCpuSeconds)} ns, ` +
    `other threads R ${ns(run.serverCpuSeconds - run.serverMainCpuSeconds)} ns), client ${ns(run.clientCpuSeconds)} ns`
  );
}

async function runWorkersBench(): Promise<void> {
  const { engine, registry } = createEngine();
  await loadDirectory(registry, new URL("../build/cartridges", import.meta.url).pathname);
  const first = engine.reset({ envId: ENV_ID }, 1n);
  const action = new Uint8Array(4);
  action[0] = first.legalMask.indexOf(1);

  console.log(
    `worker pool benchmark (node ${process.version}); rollouts of ${EPISODES} episodes per stream`,
  );
  const rates = new Map<number, number>();
  for (const workers of [1, 2]) {
    const { child, ports } = await startChild(0, workers);
    try {
      const address = `127.0.0.1:${ports.engine}`;
      const run = await streamsRun(address, child.pid!, 2);
      rates.set(workers, run.rows / run.seconds);
      console.log(describe(workers, run));
      if (workers === 2) {
        const client = await EngineClient.connect(address);
        const idle = await stepLatency(client, first.state, action);
        const busyClients = await Promise.all(
          [0, 1, 2, 3].map(() => EngineClient.connect(address)),
        );
        const background = busyClients.map((c, i) =>
          stream(c, 1000 + i, EPISODES * 10).catch(() => 0),
        );
        const busy = await stepLatency(client, first.state, action);
        for (const c of busyClients) c.close();
        await Promise.all(background);
        client.close();
        console.log(
          `  Step idle p50 ${(idle.p50 * 1000).toFixed(0)} us p99 ${(idle.p99 * 1000).toFixed(0)} us; with 4 streams p50 ${(busy.p50 * 1000).toFixed(0)} us p99 ${(busy.p99 * 1000).toFixed(0)} us (p99 ratio ${(busy.p99 / idle.p99).toFixed(2)}x, goal <= 2x)`,
        );
      }
    } finally {
      child.kill("SIGTERM");
    }
  }
  const ratio = (rates.get(2) ?? 0) / (rates.get(1) ?? 1);
  console.log(`  --workers 2 / --workers 1: ${ratio.toFixed(2)}x (goal >= 1.6x)`);
}

if (process.env.CARTRIDGE_BENCH_ROLE === "client") {
  await runClientRole(
    process.env.CARTRIDGE_BENCH_ADDRESS ?? "",
    Number(process.env.CARTRIDGE_BENCH_STREAMS ?? "2"),
  );
} else {
  await runWorkersBench();
}
