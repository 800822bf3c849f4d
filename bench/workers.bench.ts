/**
 * Worker pool benchmark (issue 10), servers in a child process as in grpc.bench.ts:
 *
 * 1. BatchSimulate rollouts over 2 concurrent streams, aggregate steps/s, with 2 guest workers
 *    against 1 (rows counted, obs not requested);
 * 2. unary Step p50/p99 idle, and while 4 BatchSimulate streams run (2 workers).
 *
 *   npx tsx bench/workers.bench.ts          (needs build/cartridges: npm run build)
 */
import { EngineClient } from "../host/client/index.js";
import { createEngine, loadDirectory } from "../host/runtime/index.js";
import { startChild } from "./grpc.bench.js";

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

/** Aggregate steps/s of `streams` concurrent rollout streams. */
async function streamsRate(address: string, streams: number): Promise<number> {
  const clients = await Promise.all(
    Array.from({ length: streams }, () => EngineClient.connect(address)),
  );
  try {
    await Promise.all(clients.map((c, i) => stream(c, i, EPISODES / 4)));
    const t0 = performance.now();
    const rows = await Promise.all(clients.map((c, i) => stream(c, i * EPISODES, EPISODES)));
    const seconds = (performance.now() - t0) / 1000;
    return rows.reduce((a, b) => a + b, 0) / seconds;
  } finally {
    for (const c of clients) c.close();
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
    const rate = await streamsRate(`127.0.0.1:${ports.engine}`, 2);
    rates.set(workers, rate);
    console.log(
      `  2 streams, --workers ${workers}: ${(rate / 1e6).toFixed(2)} M steps/s aggregate`,
    );
    if (workers === 2) {
      const client = await EngineClient.connect(`127.0.0.1:${ports.engine}`);
      const idle = await stepLatency(client, first.state, action);
      const busyClients = await Promise.all(
        [0, 1, 2, 3].map(() => EngineClient.connect(`127.0.0.1:${ports.engine}`)),
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
