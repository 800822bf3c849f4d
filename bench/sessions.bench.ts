/**
 * `npm run bench -- sessions` (or `npx tsx bench/sessions.bench.ts`): game sessions of the
 * replicated console, measured from gRPC clients, 64 sessions stepped concurrently (closed loop,
 * one client per session; a finished episode is followed by a new session, not counted):
 *
 * - through a 3-process cluster (TCP on loopback, WAL with fdatasync), clients at the leader;
 * - against a cluster Put (64 KV clients, the same cluster, the same run): the goal is a session
 *   step p50 within 1.5x of a Put's;
 * - against the single-node engine with a WAL (`cartridge serve --data-dir`);
 * - against the stateless Step RPC of that single node (the client carries the state).
 *
 * The goal of issue 9: at least 10k session steps/s through the cluster. Needs `npm run build`
 * (the nodes run from dist/, the cartridges from build/cartridges).
 */
import { cp, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EngineClient, type GameSession, type SessionTransition } from "../host/client/index.js";
import { KvClient, TestCluster } from "../test/e2e/cluster-harness.js";
import {
  bundledCartridge,
  discreteAction,
  kill,
  legalAction,
  serve,
} from "../test/e2e/console-harness.js";

const CLI = fileURLToPath(new URL("../dist/host/cli/main.js", import.meta.url));
const SESSIONS = 64;
const RUN_MS = Number(process.env.BENCH_RUN_MS ?? 4000);
const GAME = "connect4-v1";
const VALUE = "x".repeat(64);

interface Run {
  readonly latencies: number[];
  readonly elapsedMs: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
}

/** Rate, p50 and p99 of a run (sorts its latencies). */
function stats(run: Run): { rate: number; p50: number; p99: number } {
  run.latencies.sort((a, b) => a - b);
  return {
    rate: (run.latencies.length / run.elapsedMs) * 1000,
    p50: percentile(run.latencies, 50),
    p99: percentile(run.latencies, 99),
  };
}

function line(name: string, run: Run, unit: string): string {
  const s = stats(run);
  return `${name}: ${Math.round(s.rate)} ${unit}/s, p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms (${run.latencies.length})`;
}

/** Closed loop: each worker runs `op` until the time is up; only the timed ops count. */
async function closedLoop(
  workers: number,
  op: (worker: number, timed: (work: () => Promise<unknown>) => Promise<void>) => Promise<void>,
): Promise<Run> {
  const latencies: number[] = [];
  const start = performance.now();
  const timed = async (work: () => Promise<unknown>) => {
    const t0 = performance.now();
    await work();
    latencies.push(performance.now() - t0);
  };
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (performance.now() - start < RUN_MS) await op(w, timed);
    }),
  );
  return { latencies, elapsedMs: performance.now() - start };
}

/**
 * One player per session, each with its own client (the TypeScript client, which follows the
 * leader): steps with a legal action until the episode ends, then starts a new session. Only
 * steps are timed.
 */
async function sessionPlayers(clients: readonly EngineClient[]) {
  let seed = 0;
  // Every player's first session exists before the clock starts.
  const current: ({ session: GameSession; last: SessionTransition } | undefined)[] =
    await Promise.all(
      clients.map(async (client) => {
        seed += 1;
        const session = await client.session(GAME, { seed });
        const last = session.first.last;
        if (last === undefined) throw new Error("no first transition");
        return { session, last };
      }),
    );
  return async (w: number, timed: (work: () => Promise<unknown>) => Promise<void>) => {
    let open = current[w];
    if (open === undefined || open.last.terminated || open.last.truncated) {
      seed += 1;
      const session = await (clients[w] as EngineClient).session(GAME, { seed });
      const last = session.first.last;
      if (last === undefined) throw new Error("no first transition");
      open = { session, last };
      current[w] = open;
    }
    const playing = open;
    const action = legalAction(playing.last.legalMask, w + playing.last.step);
    await timed(async () => {
      playing.last = await playing.session.step(action);
    });
  };
}

/** One client per session, connected to `address` and knowing the other `endpoints`. */
function connectAll(address: string, endpoints: readonly string[]): Promise<EngineClient[]> {
  return Promise.all(
    Array.from({ length: SESSIONS }, () => EngineClient.connect(address, { endpoints })),
  );
}

async function folderWithGame(dir: string): Promise<string> {
  const folder = join(dir, "cartridges");
  await mkdir(folder, { recursive: true });
  await cp(bundledCartridge(GAME), join(folder, `${GAME}.wasm`));
  return folder;
}

async function clusterRuns(dir: string): Promise<{ steps: Run; puts: Run }> {
  const cluster = await TestCluster.create({
    serveArgs: ["--cartridges", await folderWithGame(dir)],
  });
  try {
    await cluster.startAll();
    const leader = await cluster.leader();
    const leaderIndex = cluster.nodes.indexOf(leader);
    // Clients at the leader: forwarding would measure two hops.
    const kv = Array.from({ length: SESSIONS }, (_, i) => new KvClient(cluster, `bench-kv-${i}`));
    for (const client of kv) client.preferNode(leaderIndex);
    await kv[0]?.put("warm-up", VALUE);
    const puts = await closedLoop(SESSIONS, (w, timed) =>
      timed(() => (kv[w] as KvClient).put(`k${w}`, VALUE)),
    );
    const players = await connectAll(
      leader.grpcAddress,
      cluster.nodes.map((node) => node.grpcAddress),
    );
    try {
      return { steps: await closedLoop(SESSIONS, await sessionPlayers(players)), puts };
    } finally {
      for (const player of players) player.close();
    }
  } finally {
    await cluster.destroy();
  }
}

async function singleNodeRuns(dir: string): Promise<{ steps: Run; stateless: Run }> {
  const { child, address } = await serve(CLI, [
    "--data-dir",
    join(dir, "single-data"),
    "--cartridges",
    await folderWithGame(join(dir, "single")),
  ]);
  const engine = await EngineClient.connect(address);
  const players = await connectAll(address, []);
  try {
    const steps = await closedLoop(SESSIONS, await sessionPlayers(players));
    // The stateless Engine Step: the client carries the state; a finished episode resets.
    const states: ({ state: Uint8Array; mask: Uint8Array; step: number } | undefined)[] = [];
    const stateless = await closedLoop(SESSIONS, async (w, timed) => {
      let episode = states[w];
      if (episode === undefined) {
        const reset = await engine.reset(GAME, w);
        episode = { state: reset.state, mask: reset.legalMask, step: 0 };
        states[w] = episode;
      }
      const open = episode;
      const action = legalAction(open.mask, w + open.step);
      await timed(async () => {
        const step = await engine.step(GAME, open.state, discreteAction(action));
        states[w] =
          step.terminated || step.truncated
            ? undefined
            : { state: step.state, mask: step.legalMask, step: open.step + 1 };
      });
    });
    return { steps, stateless };
  } finally {
    engine.close();
    for (const player of players) player.close();
    await kill(child);
  }
}

export async function runSessionsBench(): Promise<void> {
  console.log("(the machine is shared: numbers vary with the load of other processes)");
  const dir = await mkdtemp(join(tmpdir(), "cartridge-bench-sessions-"));
  try {
    const single = await singleNodeRuns(dir);
    const cluster = await clusterRuns(dir);
    console.log(line(`3-process cluster, ${SESSIONS} sessions, step`, cluster.steps, "steps"));
    console.log(line(`3-process cluster, ${SESSIONS} clients, Put`, cluster.puts, "commits"));
    console.log(line(`single node + WAL, ${SESSIONS} sessions, step`, single.steps, "steps"));
    console.log(line(`stateless Step RPC, ${SESSIONS} clients`, single.stateless, "steps"));
    const steps = stats(cluster.steps);
    const puts = stats(cluster.puts);
    console.log(
      `cluster session steps: ${Math.round(steps.rate)}/s (goal >= 10000); step p50 / Put p50 = ${(steps.p50 / puts.p50).toFixed(2)}x (goal <= 1.5x); vs single node ${(steps.rate / stats(single.steps).rate).toFixed(2)}x, vs stateless Step ${(steps.rate / stats(single.stateless).rate).toFixed(2)}x`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runSessionsBench();
}
