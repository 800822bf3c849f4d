/**
 * gRPC benchmark of the Engine service, in one run:
 *
 * 1. unary Step latency (p50/p99) and calls/s, against a bare grpc-js echo service that moves
 *    byte strings of exactly the encoded Step request and response sizes (the floor);
 * 2. BatchSimulate rollout steps/s delivered to and decoded by a client over loopback, against
 *    the same rollouts run in-process without gRPC (the ceiling);
 * 3. the server's resident memory while streaming (scraped from its /metrics endpoint).
 *
 * The servers run in a child process, so client and server each get a core as they would in
 * production; the child is this same file started with CARTRIDGE_BENCH_ROLE=server.
 *
 * Run: `npx tsx bench/grpc.bench.ts` (needs build/cartridges; see package.json "build").
 */
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import {
  Client,
  credentials,
  Server,
  ServerCredentials,
  type ServiceDefinition,
} from "@grpc/grpc-js";
import { Bench } from "tinybench";
import { EngineClient } from "../host/client/index.js";
import { StepRequest, StepResponse } from "../host/proto/generated/engine/v1/engine.js";
import { createEngine, InlineEngine, loadDirectory } from "../host/runtime/index.js";
import { WorkerEngine } from "../host/runtime/worker-engine.js";
import { DEFAULT_LIMITS } from "../host/server/limits.js";
import { ServerMetrics } from "../host/server/metrics.js";
import { serveMetrics } from "../host/server/metrics-http.js";
import { startServer } from "../host/server/server.js";
import { cpuSince, nsPerRow, processCpu } from "./proc-cpu.js";

const ENV_ID = "tictactoe-v1";
const CARTRIDGES = resolve(fileURLToPath(new URL("../build/cartridges", import.meta.url)));
const ROLLOUT_EPISODES = 100_000;

const identity = {
  serialize: (value: Buffer) => value,
  deserialize: (value: Buffer) => value,
};

/** A bare echo service: it answers every request with a fixed byte string of the Step reply size. */
const ECHO_SERVICE: ServiceDefinition = {
  echo: {
    path: "/bench.Echo/Echo",
    requestStream: false,
    responseStream: false,
    requestSerialize: identity.serialize,
    requestDeserialize: identity.deserialize,
    responseSerialize: identity.serialize,
    responseDeserialize: identity.deserialize,
  },
};

export interface ChildPorts {
  readonly engine: number;
  readonly echo: number;
  readonly metricsUrl: string;
}

/** The child: an Engine server over build/cartridges and an echo server, ports on stdout. */
async function runServerRole(): Promise<void> {
  const replyBytes = Number(process.env.CARTRIDGE_BENCH_REPLY_BYTES ?? "0");
  const { engine, registry } = createEngine();
  await loadDirectory(registry, CARTRIDGES);
  const metrics = new ServerMetrics();
  // CARTRIDGE_BENCH_WORKERS: guest worker threads (0, the default here, runs them inline).
  const workers = Number(process.env.CARTRIDGE_BENCH_WORKERS ?? "0");
  // CARTRIDGE_BENCH_SLICE: the workers' inline fuel slice for unary calls (0, the default, off).
  const slice = Number(process.env.CARTRIDGE_BENCH_SLICE ?? "0");
  const pool =
    workers > 0 ? new WorkerEngine(registry, { workers, inlineSliceFuel: slice }) : undefined;
  await pool?.ready();
  const running = await startServer({ engine: pool ?? new InlineEngine(engine), metrics });
  const reply = Buffer.alloc(replyBytes, 7);
  const echo = new Server();
  echo.addService(ECHO_SERVICE, {
    echo: (_call: unknown, callback: (error: null, value: Buffer) => void) => callback(null, reply),
  });
  const echoPort = await new Promise<number>((ok, fail) =>
    echo.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) =>
      e ? fail(e) : ok(p),
    ),
  );
  const endpoint = await serveMetrics(metrics, "127.0.0.1", 0);
  const ports: ChildPorts = { engine: running.port, echo: echoPort, metricsUrl: endpoint.url };
  process.stdout.write(`${JSON.stringify(ports)}\n`);
  // Exit normally on SIGTERM, so that process-exit hooks (e.g. --cpu-prof) run.
  process.once("SIGTERM", () => process.exit(0));
}

/** Starts the server role in a child process; `workers` guest threads (0: inline). */
export function startChild(
  replyBytes: number,
  workers = Number(process.env.CARTRIDGE_BENCH_WORKERS ?? "0"),
): Promise<{ child: ChildProcess; ports: ChildPorts }> {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
    env: {
      ...process.env,
      CARTRIDGE_BENCH_ROLE: "server",
      CARTRIDGE_BENCH_REPLY_BYTES: String(replyBytes),
      CARTRIDGE_BENCH_WORKERS: String(workers),
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((ok, fail) => {
    child.once("exit", (code) => fail(new Error(`bench server exited early (${code})`)));
    const lines = createInterface({ input: child.stdout! });
    lines.once("line", (line) => ok({ child, ports: JSON.parse(line) as ChildPorts }));
  });
}

/** The server's resident set and V8 heap in use, from its /metrics page. */
async function serverMemory(metricsUrl: string): Promise<{ rss: number; heap: number }> {
  const text = await (await fetch(metricsUrl)).text();
  const read = (name: string) => {
    const match = new RegExp(`^${name} ([0-9.e+]+)$`, "m").exec(text);
    return match === null ? Number.NaN : Number(match[1]);
  };
  return { rss: read("process_resident_memory_bytes"), heap: read("nodejs_heap_size_used_bytes") };
}

interface Latency {
  readonly p50: number;
  readonly p99: number;
  readonly hz: number;
}

function latencyOf(bench: Bench, name: string): Latency {
  const result = bench.getTask(name)?.result;
  if (result === undefined || !("latency" in result)) throw new Error(`task ${name} did not run`);
  return { p50: result.latency.p50, p99: result.latency.p99, hz: result.throughput.mean };
}

const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** Runs the whole benchmark and prints a report. */
export async function runGrpcBench(): Promise<void> {
  // Size the echo by a real Step of the benchmarked env.
  const { engine: local, registry } = createEngine();
  await loadDirectory(registry, CARTRIDGES);
  const first = local.reset({ envId: ENV_ID }, 1n);
  const action = new Uint8Array(4);
  action[0] = first.legalMask.indexOf(1);
  const sample = local.step({ envId: ENV_ID }, first.state, action);
  const requestBytes = Buffer.from(
    StepRequest.encode({
      id: { envId: ENV_ID, buildId: "" },
      state: Buffer.from(first.state),
      action: Buffer.from(action),
    }).finish(),
  );
  const replyBytes = StepResponse.encode({
    state: Buffer.from(sample.state),
    obs: Buffer.from(sample.obs),
    reward: sample.reward,
    done: false,
    terminated: false,
    truncated: false,
    currentPlayer: sample.currentPlayer,
    legalMask: Buffer.from(sample.legalMask),
    playerRewards: Array.from(sample.playerRewards),
    id: { envId: ENV_ID, buildId: sample.build.buildId },
  }).finish().length;

  const { child, ports } = await startChild(replyBytes);
  const client = await EngineClient.connect(`127.0.0.1:${ports.engine}`);
  const echo = new Client(`127.0.0.1:${ports.echo}`, credentials.createInsecure());
  const echoCall = () =>
    new Promise<void>((ok, fail) =>
      echo.makeUnaryRequest(
        "/bench.Echo/Echo",
        identity.serialize,
        identity.deserialize,
        requestBytes,
        (error) => (error ? fail(error) : ok()),
      ),
    );
  try {
    // Two rounds, each timing echo then Step; the best p50 of each is kept, so that neither task
    // is favoured by running when the (shared) machine happened to be quieter.
    const rounds: { echo: Latency; step: Latency }[] = [];
    for (let round = 0; round < 2; round++) {
      const unary = new Bench({ time: 1000, warmupTime: 300 });
      unary.add("echo", echoCall);
      unary.add("step", async () => {
        await client.step(ENV_ID, first.state, action);
      });
      await unary.run();
      rounds.push({ echo: latencyOf(unary, "echo"), step: latencyOf(unary, "step") });
    }
    const best = (pick: (r: (typeof rounds)[number]) => Latency) =>
      rounds.map(pick).reduce((a, b) => (b.p50 < a.p50 ? b : a));
    const e = best((r) => r.echo);
    const s = best((r) => r.step);

    // Rollouts in-process (no gRPC) as the reference, then delivered over gRPC; each warmed up
    // once and then measured three times (median reported).
    const inProcessRun = (episodes: number) => {
      let rows = 0;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      for (const chunk of local.rollout({
        envId: ENV_ID,
        seed: 0n,
        episodes,
        stepCap: 9,
        includeObs: false,
        chunkSteps: DEFAULT_LIMITS.defaultChunkRows,
      })) {
        rows += chunk.rows;
      }
      const cpu = process.cpuUsage(cpu0);
      return {
        rate: rows / ((performance.now() - t0) / 1000),
        cpuNsPerRow: ((cpu.user + cpu.system) * 1000) / rows,
      };
    };
    // CPU per row: the client's (this process), and the server child's, read from /proc.
    const grpcRun = async (episodes: number, over: EngineClient = client) => {
      let rows = 0;
      const server0 = processCpu(child.pid!);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      for await (const chunk of over.batchSimulate({
        envId: ENV_ID,
        rollouts: { seed: 0, episodes },
      })) {
        rows += chunk.rows;
      }
      const rate = rows / ((performance.now() - t0) / 1000);
      const cpu = process.cpuUsage(cpu0);
      const server = cpuSince(server0, processCpu(child.pid!));
      return {
        rows,
        rate,
        clientNsPerRow: ((cpu.user + cpu.system) * 1000) / rows,
        serverNsPerRow: nsPerRow(server.totalSeconds, rows),
      };
    };
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[1] ?? Number.NaN;

    inProcessRun(ROLLOUT_EPISODES / 10);
    const inProcessRuns = [0, 1, 2].map(() => inProcessRun(ROLLOUT_EPISODES));
    const inProcessRate = median(inProcessRuns.map((r) => r.rate));
    const inProcessNs = median(inProcessRuns.map((r) => r.cpuNsPerRow));

    const idle = await serverMemory(ports.metricsUrl);
    const peak = { ...idle };
    const sampler = setInterval(() => {
      serverMemory(ports.metricsUrl).then(
        (now) => {
          peak.rss = Math.max(peak.rss, now.rss);
          peak.heap = Math.max(peak.heap, now.heap);
        },
        () => undefined,
      );
    }, 100);
    await grpcRun(ROLLOUT_EPISODES / 10);
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await grpcRun(ROLLOUT_EPISODES));
    clearInterval(sampler);
    const delivered = runs[0]?.rows ?? 0;
    const deliveredRate = median(runs.map((r) => r.rate));
    const serverNs = median(runs.map((r) => r.serverNsPerRow));
    const clientNs = median(runs.map((r) => r.clientNsPerRow));

    // The same with the server in this process: no second core needed, so on a busy machine it
    // isolates what the gRPC layer itself costs.
    const sameProcess = await startServer({ engine: new InlineEngine(local) });
    const sameClient = await EngineClient.connect(sameProcess.address);
    await grpcRun(ROLLOUT_EPISODES / 10, sameClient);
    const sameRuns = [];
    for (let i = 0; i < 3; i++) sameRuns.push(await grpcRun(ROLLOUT_EPISODES, sameClient));
    const sameRate = median(sameRuns.map((r) => r.rate));
    sameClient.close();
    await sameProcess.shutdown(1000);

    console.log(`gRPC benchmark (${ENV_ID}; server in a child process; loopback)`);
    console.log(
      `  echo  (${requestBytes.length} B -> ${replyBytes} B): p50 ${us(e.p50)}  p99 ${us(e.p99)}  ${e.hz.toFixed(0)} calls/s`,
    );
    console.log(
      `  Step                  : p50 ${us(s.p50)}  p99 ${us(s.p99)}  ${s.hz.toFixed(0)} calls/s`,
    );
    console.log(
      `  Step/echo p50 ratio   : ${(s.p50 / e.p50).toFixed(3)}x  (goal <= 1.15x); p99 ${(s.p99 / e.p99).toFixed(3)}x`,
    );
    console.log(
      `  BatchSimulate rollouts: ${(deliveredRate / 1e6).toFixed(2)} M steps/s delivered (median of 3 runs of ${delivered} steps; goal >= 2 M)`,
    );
    console.log(
      `  in-process rollouts   : ${(inProcessRate / 1e6).toFixed(2)} M steps/s; delivered/in-process ${(deliveredRate / inProcessRate).toFixed(3)}x`,
    );
    console.log(
      `  CPU per row           : in-process rollout ${inProcessNs.toFixed(0)} ns; server ${serverNs.toFixed(0)} ns (delivery ${(serverNs - inProcessNs).toFixed(0)} ns beyond the rollout), client ${clientNs.toFixed(0)} ns; in-process/(server) ${(inProcessNs / serverNs).toFixed(3)}x`,
    );
    console.log(
      `  same-process server   : ${(sameRate / 1e6).toFixed(2)} M steps/s delivered; /in-process ${(sameRate / inProcessRate).toFixed(3)}x`,
    );
    console.log(
      `  server memory         : RSS ${mb(idle.rss)} idle, ${mb(peak.rss)} peak while streaming; V8 heap used ${mb(idle.heap)} idle, ${mb(peak.heap)} peak`,
    );
  } finally {
    client.close();
    echo.close();
    child.kill("SIGTERM");
  }
}

if (process.env.CARTRIDGE_BENCH_ROLE === "server") {
  await runServerRole();
} else if (
  process.argv[1] !== undefined &&
  resolve(process.argv[1]) === fileURLToPath(import.meta.url)
) {
  await runGrpcBench();
}
