import { SimClient } from "./clients.js";
import { SimCluster, type SimNode } from "./cluster.js";
import type { DiskFaultEvents } from "./faulty-storage.js";
import { type KvInput, type KvOutput, registerModel } from "./kv.js";
import { checkLinearizable, type Operation } from "./linearizability.js";
import { NO_NETWORK_FAULTS } from "./network.js";
import { SimRandom } from "./random.js";

/** Every kind of fault the simulator injects. */
export const FAULT_KINDS = [
  "loss",
  "duplicate",
  "delay",
  "reorder",
  "partition",
  "asymmetricPartition",
  "crash",
  "crashDuringPersist",
  "pause",
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

/** Knobs of one run; everything else is derived from the seed. */
export interface RunOptions {
  readonly faultTicks: number;
  /** After faults stop, everything pending must complete within this many ticks. */
  readonly livenessBoundTicks: number;
  readonly clients: number;
  readonly keys: readonly string[];
}

export const DEFAULT_RUN_OPTIONS: RunOptions = {
  faultTicks: 300,
  livenessBoundTicks: 400,
  clients: 3,
  keys: ["a", "b", "c"],
};

/** What one seed did and whether every check passed. */
export interface RunReport {
  readonly seed: number;
  readonly ok: boolean;
  readonly failures: readonly string[];
  readonly replicas: number;
  readonly enabledFaults: readonly FaultKind[];
  /** How many times each fault was injected. */
  readonly faultEvents: Readonly<Record<FaultKind, number>>;
  /** What the simulated disks injected (latency is not counted). */
  readonly diskFaults: Readonly<DiskFaultEvents>;
  readonly ticks: number;
  readonly chosenSlots: number;
  readonly completedOps: number;
  readonly indeterminateOps: number;
  readonly messagesSent: number;
  /** Messages delivered, by type (shows which protocol paths the run exercised). */
  readonly deliveredByType: Readonly<Record<string, number>>;
}

/** Runs one seed: faults, then healing and the liveness bound, then linearizability. */
export async function runSeed(
  seed: number,
  options: RunOptions = DEFAULT_RUN_OPTIONS,
): Promise<RunReport> {
  const replicas = new SimRandom(seed).chance(0.3) ? 5 : 3;
  // The cluster's own stream is derived from the seed too, so a run is a function of `seed`.
  const sim = new SimCluster({ seed: seed * 7919 + replicas, replicas });
  const enabled = chooseFaults(seed, sim);
  // Some seeds are storms: faults several times as often, and a busier workload.
  const intensity = sim.random.pick([1, 1, 2, 3, 5]);
  const issueRate = sim.random.pick([0.3, 0.6, 1]);
  const faultEvents = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<
    FaultKind,
    number
  >;
  const network = sim.network;
  if (enabled.has("loss")) {
    network.faults.lossRate = sim.random.between(2, 20) / 100;
  }
  if (enabled.has("duplicate")) {
    network.faults.duplicateRate = sim.random.between(2, 15) / 100;
  }
  if (enabled.has("delay")) {
    network.faults.maxExtraDelayTicks = sim.random.between(1, 6);
  }
  network.faults.reorder = enabled.has("reorder");
  for (const kind of ["loss", "duplicate", "delay", "reorder"] as const) {
    if (enabled.has(kind)) {
      faultEvents[kind] += 1;
    }
  }

  const clients = Array.from(
    { length: options.clients },
    (_, i) =>
      new SimClient(`c${i + 1}`, sim, {
        keys: options.keys,
        attemptTimeoutTicks: 40,
        maxAttempts: 6,
        issueRate,
      }),
  );
  const restartAt = new Map<SimNode, number>();
  sim.startAll();

  const failures: string[] = [];
  // Phase 1: faults.
  for (let t = 0; t < options.faultTicks && sim.violations.length === 0; t += 1) {
    await sim.step(() => {
      injectFaults(sim, enabled, intensity, faultEvents, restartAt);
      for (const client of clients) {
        client.step(true);
      }
    });
  }
  // Phase 2: heal everything and require progress within the bound.
  network.healAll();
  network.faults = { ...NO_NETWORK_FAULTS };
  for (const node of sim.nodes) {
    node.pausedUntil = 0;
    node.storage.disarm();
    sim.startNode(node);
  }
  for (const client of clients) {
    client.persistent = true;
  }
  let live = false;
  for (let t = 0; t < options.livenessBoundTicks && sim.violations.length === 0; t += 1) {
    await sim.step(() => {
      for (const client of clients) {
        client.step(false);
      }
    });
    if (clients.every((client) => client.idle()) && converged(sim)) {
      live = true;
      break;
    }
  }
  failures.push(...sim.violations);
  if (sim.violations.length === 0 && !live) {
    failures.push(`liveness: not converged ${options.livenessBoundTicks} ticks after healing`);
  }
  // Phase 3: linearizability, key by key.
  const history = clients.flatMap((client) => client.history);
  if (failures.length === 0) {
    failures.push(...checkHistory(history));
  }
  return {
    seed,
    ok: failures.length === 0,
    failures,
    replicas,
    enabledFaults: FAULT_KINDS.filter((kind) => enabled.has(kind)),
    faultEvents,
    diskFaults: sim.diskFaultEvents(),
    ticks: sim.now,
    chosenSlots: sim.chosenSlots(),
    completedOps: history.filter((op) => op.output !== undefined).length,
    indeterminateOps: history.filter((op) => op.output === undefined).length,
    messagesSent: network.stats.sent,
    deliveredByType: { ...network.stats.byType },
  };
}

/** Checks the client history per key; returns failure descriptions. */
export function checkHistory(
  history: readonly (Operation<KvInput, KvOutput> & { readonly input: KvInput })[],
): string[] {
  const failures: string[] = [];
  const byKey = new Map<string, Operation<KvInput, KvOutput>[]>();
  for (const op of history) {
    // A read whose result is unknown constrains nothing; leaving it out keeps the search small.
    if (op.input.op === "get" && op.output === undefined) {
      continue;
    }
    const list = byKey.get(op.input.key) ?? [];
    list.push(op);
    byKey.set(op.input.key, list);
  }
  for (const [key, ops] of byKey) {
    const result = checkLinearizable(registerModel, ops);
    if (result.kind !== "linearizable") {
      failures.push(`linearizability (${result.kind}) on key ${key} with ${ops.length} ops`);
    }
  }
  return failures;
}

/** The faults a seed enables: one chosen by the seed's position, plus a random subset. */
function chooseFaults(seed: number, sim: SimCluster): Set<FaultKind> {
  const enabled = new Set<FaultKind>();
  enabled.add(FAULT_KINDS[seed % FAULT_KINDS.length] ?? "loss");
  for (const kind of FAULT_KINDS) {
    if (sim.random.chance(0.3)) {
      enabled.add(kind);
    }
  }
  return enabled;
}

function injectFaults(
  sim: SimCluster,
  enabled: Set<FaultKind>,
  intensity: number,
  events: Record<FaultKind, number>,
  restartAt: Map<SimNode, number>,
): void {
  const random = sim.random;
  const chance = (p: number): boolean => random.chance(p * intensity);
  for (const [node, at] of restartAt) {
    if (at <= sim.now) {
      restartAt.delete(node);
      sim.startNode(node);
    }
  }
  for (const node of sim.nodes) {
    // A node that crashed on an armed write comes back later too.
    if (node.engine === undefined && !restartAt.has(node)) {
      restartAt.set(node, sim.now + random.between(2, 30));
    }
  }
  const running = sim.nodes.filter((node) => node.engine !== undefined);
  if (enabled.has("partition") && chance(0.02)) {
    events.partition += 1;
    if (sim.network.cutLinks() > 0) {
      sim.network.healAll();
    } else {
      const side = new Set(sim.nodes.filter(() => random.chance(0.5)).map((n) => n.replicaId));
      for (const a of sim.nodes) {
        for (const b of sim.nodes) {
          if (side.has(a.replicaId) !== side.has(b.replicaId)) {
            sim.network.cutLink(a.replicaId, b.replicaId);
          }
        }
      }
    }
  }
  if (enabled.has("asymmetricPartition") && chance(0.02)) {
    events.asymmetricPartition += 1;
    if (sim.network.cutLinks() > 2) {
      sim.network.healAll();
    } else {
      const from = random.pick(sim.nodes);
      const to = random.pick(sim.nodes);
      if (from !== to) {
        sim.network.cutLink(from.replicaId, to.replicaId);
      }
    }
  }
  // Crashing and pausing the leader is where the hard cases are, so it is targeted often.
  const target = (): SimNode => {
    const leader = sim.leaders()[0];
    return leader !== undefined && random.chance(0.6) ? leader : random.pick(running);
  };
  if (enabled.has("crash") && running.length > 0 && chance(0.015)) {
    events.crash += 1;
    const node = target();
    sim.crash(node);
    restartAt.set(node, sim.now + random.between(2, 40));
  }
  if (enabled.has("crashDuringPersist") && running.length > 0 && chance(0.01)) {
    events.crashDuringPersist += 1;
    sim.crashOnNextPersist(target(), random.chance(0.5) ? "beforePersist" : "afterPersist");
  }
  if (enabled.has("pause") && running.length > 0 && chance(0.015)) {
    events.pause += 1;
    sim.pause(target(), random.between(3, 40));
  }
}

/** Whether one leader leads everyone and every replica applied everything it committed. */
function converged(sim: SimCluster): boolean {
  const leaders = sim.leaders();
  const leader = leaders[0]?.engine?.status();
  if (leader === undefined || leader.pendingCommands > 0) {
    return false;
  }
  return sim.nodes.every((node) => {
    const status = node.engine?.status();
    return (
      status !== undefined &&
      status.commitIndex === leader.commitIndex &&
      status.appliedIndex === leader.commitIndex &&
      (status.role === "leader" ? status === leader || node === leaders[0] : true) &&
      status.leaderReplicaId === leader.replicaId
    );
  });
}
