/**
 * The worker hop of a unary call, in process (issue 10): what a Step costs for being run on a
 * guest worker rather than on the caller's thread, without gRPC around it. In one run,
 * interleaved round by round so load drifts alike on every line:
 *
 * 1. `CartridgeEngine.step` inline (the guest work alone, no hop);
 * 2. `WorkerEngine.step` (the hop the server pays, through the doorbell of unary-channel.ts);
 * 3. a bare round trip to an echo worker by `postMessage` both ways (the former hop's transport);
 * 4. a bare round trip to an echo worker by the doorbell (`Atomics.notify` to a worker waiting
 *    in `Atomics.wait`, reply by `postMessage`).
 *
 * Each line gives p50 latency and CPU per call (process CPU time over all threads, user and
 * system, so the worker's share counts); CPU time is the number to trust on a loaded machine.
 *
 * Then `WorkerEngine.step` p50/p99 on a pool of 2 (bulk) workers, idle and while 4 rollout
 * streams keep them busy in the same process, as the server's Step sees it without gRPC.
 *
 *   npx tsx bench/hop.bench.ts          (needs build/cartridges: npm run build)
 */
import { Worker } from "node:worker_threads";
import { createEngine, loadDirectory } from "../host/runtime/index.js";
import { UnaryChannel } from "../host/runtime/unary-channel.js";
import { WorkerEngine } from "../host/runtime/worker-engine.js";

import { DEFAULT_LIMITS } from "../host/server/limits.js";

const ENV_ID = "tictactoe-v1";
const CALLS = Number(process.env.BENCH_CALLS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

interface Line {
  readonly name: string;
  readonly call: () => Promise<unknown> | unknown;
  readonly times: number[];
  cpuUs: number;
}

async function measure(line: Line): Promise<void> {
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    await line.call();
    line.times.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  line.cpuUs += cpu.user + cpu.system;
}

function quantileUs(times: number[], q: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  return (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) * 1000;
}

function p50Us(times: number[]): number {
  return quantileUs(times, 0.5);
}

/** A worker echoing every message back, woken by its port (the event loop). */
function portEcho(): Worker {
  return new Worker(
    `const { parentPort } = require("node:worker_threads");
     parentPort.on("message", (m) => parentPort.postMessage(m));`,
    { eval: true },
  );
}

/** A worker echoing every message back, woken by a doorbell while it waits in Atomics.wait. */
function bellEcho(bell: UnaryChannel): Worker {
  return new Worker(
    `const { parentPort, workerData, receiveMessageOnPort } = require("node:worker_threads");
     const rung = new Int32Array(workerData, 0, 1);
     for (;;) {
       const seen = Atomics.load(rung, 0);
       for (let m = receiveMessageOnPort(parentPort); m !== undefined; m = receiveMessageOnPort(parentPort)) {
         parentPort.postMessage(m.message);
       }
       Atomics.wait(rung, 0, seen);
     }`,
    { eval: true, workerData: bell.buffer },
  );
}

function roundTrip(worker: Worker, send: (message: unknown) => void): () => Promise<unknown> {
  let answer: ((value: unknown) => void) | undefined;
  worker.on("message", (m) => answer?.(m));
  return () =>
    new Promise((resolve) => {
      answer = resolve;
      send({ op: "step", state: new Uint8Array(16), action: new Uint8Array(4) });
    });
}

const { engine, registry } = createEngine();
await loadDirectory(registry, new URL("../build/cartridges", import.meta.url).pathname);
const first = engine.reset({ envId: ENV_ID }, 1n);
const action = new Uint8Array(4);
action[0] = first.legalMask.indexOf(1);
const pool = new WorkerEngine(registry, { workers: 1, inlineSliceFuel: 0 });
await pool.ready();

const port = portEcho();
const bell = new UnaryChannel();
const belled = bellEcho(bell);
const lines: Line[] = [
  {
    name: "inline CartridgeEngine.step",
    call: () => engine.step({ envId: ENV_ID }, first.state, action),
    times: [],
    cpuUs: 0,
  },
  {
    name: "WorkerEngine.step",
    call: () => pool.step({ envId: ENV_ID }, first.state, action),
    times: [],
    cpuUs: 0,
  },
  {
    name: "echo worker, postMessage",
    call: roundTrip(port, (m) => port.postMessage(m)),
    times: [],
    cpuUs: 0,
  },
  {
    name: "echo worker, doorbell",
    call: roundTrip(belled, (m) => {
      belled.postMessage(m);
      bell.ring();
    }),
    times: [],
    cpuUs: 0,
  },
];

console.log(
  `unary hop benchmark (node ${process.version}); ${ROUNDS} rounds of ${CALLS} calls per line`,
);
for (let round = 0; round < ROUNDS + 1; round++) {
  for (const line of lines) {
    await measure(line);
    // The first round warms up (JIT, worker start-up) and is not counted.
    if (round === 0) {
      line.times.length = 0;
      line.cpuUs = 0;
    }
  }
}
const inline = lines[0];
for (const line of lines) {
  const cpuPerCallUs = line.cpuUs / (CALLS * ROUNDS);
  console.log(
    `  ${line.name.padEnd(30)} p50 ${p50Us(line.times).toFixed(1).padStart(6)} us  CPU/call ${cpuPerCallUs.toFixed(1).padStart(6)} us`,
  );
}
if (inline !== undefined) {
  const worker = lines[1];
  if (worker !== undefined) {
    console.log(
      `  hop (WorkerEngine - inline): p50 ${(p50Us(worker.times) - p50Us(inline.times)).toFixed(1)} us, CPU/call ${((worker.cpuUs - inline.cpuUs) / (CALLS * ROUNDS)).toFixed(1)} us`,
    );
  }
}
await pool.close();
await port.terminate();
await belled.terminate();

/** Step p50/p99 on a pool of 2 workers, idle and while 4 rollout streams run on it. */
async function busyStep(): Promise<void> {
  const busyPool = new WorkerEngine(registry, { workers: 2, inlineSliceFuel: 0 });
  await busyPool.ready();
  const step: Line = {
    name: "",
    call: () => busyPool.step({ envId: ENV_ID }, first.state, action),
    times: [],
    cpuUs: 0,
  };
  await measure(step);
  step.times.length = 0;
  await measure(step);
  const idle = step.times.splice(0);
  let running = true;
  const stream = async (seed: number) => {
    while (running) {
      for await (const chunk of busyPool.rollout({
        envId: ENV_ID,
        seed: BigInt(seed),
        episodes: 100_000,
        stepCap: 9,
        includeObs: false,
        chunkSteps: DEFAULT_LIMITS.defaultChunkRows,
      })) {
        if (!running || chunk.rows < 0) break;
      }
    }
  };
  const streams = [0, 1, 2, 3].map((i) => stream(i));
  await measure(step);
  running = false;
  await Promise.all(streams);
  await busyPool.close();
  const busy = step.times;
  const line = (name: string, times: number[]) =>
    `  ${name.padEnd(30)} p50 ${p50Us(times).toFixed(1).padStart(6)} us  p99 ${quantileUs(times, 0.99).toFixed(1).padStart(8)} us`;
  console.log(line("Step, 2 workers idle", idle));
  console.log(line("Step, 4 rollout streams", busy));
  console.log(
    `  busy/idle: p50 ${(p50Us(busy) / p50Us(idle)).toFixed(2)}x, p99 ${(quantileUs(busy, 0.99) / quantileUs(idle, 0.99)).toFixed(2)}x`,
  );
}
await busyStep();
