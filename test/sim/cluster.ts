import {
  type ClusterConfig,
  type CoreOptions,
  DEFAULT_CORE_OPTIONS,
} from "../../host/consensus/core/config.js";
import type { Entry, SlotValue } from "../../host/consensus/core/entry.js";
import { ConsensusError } from "../../host/consensus/core/errors.js";
import { MultiPaxosEngine } from "../../host/consensus/engine/multi-paxos-engine.js";
import { ManualTickSource } from "../../host/consensus/engine/tick-source.js";
import type { StateMachine } from "../../host/consensus/statemachine.js";
import type { Engine } from "../../host/runtime/engine.js";
import {
  type CrashPoint,
  type DiskFaultEvents,
  type DiskProfile,
  FaultyStorage,
  PERFECT_DISK,
} from "./faulty-storage.js";
import { KvMachine } from "./kv.js";
import { SimNetwork } from "./network.js";
import { SimRandom } from "./random.js";

/** Options of a simulated cluster. */
export interface SimClusterOptions {
  readonly seed: number;
  readonly replicas: number;
  readonly coreOptions?: Partial<CoreOptions>;
  readonly snapshotIntervalSlots?: number;
  readonly retainSlots?: number;
  /** Whether the KV machine implements `applyBatch` (so the batched apply path runs). */
  readonly batchedApply?: boolean;
  /**
   * "seeded" (the default): each seed draws its disks' misbehaviour (write latency, torn writes,
   * I/O failures, a rotting record), each fault for a minority of seeds; "perfect": none.
   */
  readonly disks?: "seeded" | "perfect";
  /** With a runtime, the replicas also hold the console's sessions part (see `KvMachine`). */
  readonly sessionRuntime?: Engine;
}

/** One simulated replica process. Its storage outlives crashes; everything else does not. */
export interface SimNode {
  readonly replicaId: number;
  readonly nodeId: string;
  readonly storage: FaultyStorage;
  engine: MultiPaxosEngine | undefined;
  machine: KvMachine;
  tickSource: ManualTickSource;
  /** The tick until which the node is paused (frozen: no ticks, no deliveries). */
  pausedUntil: number;
  /** The last slot seen applied by this incarnation (for the in-order check). */
  lastAppliedSeen: number;
  /** The highest commit index of this incarnation (must never fall). */
  commitSeen: number;
  /** Committed slots already compared with the chosen values. */
  checkedThrough: number;
  crashes: number;
  /** Times the replica halted on an injected storage failure. */
  halts: number;
}

/** A stable string for a slot's value, used to compare values across replicas. */
export function valueKey(value: SlotValue): string {
  if (value.kind === "noop") {
    return "noop";
  }
  return value.commands.map((command) => `${command.clientId}#${command.requestId}`).join(",");
}

/** Small limits so a short run exercises windows, batching, chunking, catch-up and snapshots. */
export const SIM_CORE_OPTIONS: CoreOptions = {
  ...DEFAULT_CORE_OPTIONS,
  electionTimeoutTicks: 10,
  heartbeatIntervalTicks: 2,
  windowSlots: 8,
  maxBatchCommands: 3,
  maxEntriesPerMessage: 4,
  maxPendingCommands: 64,
};

/**
 * N replicas on one thread over the simulated network, with the safety checks that run after
 * every step: one value per slot, chosen values never change, committed prefixes agree, slots
 * are applied once and in order, commit indexes never fall, one leader per ballot.
 */
export class SimCluster {
  readonly random: SimRandom;
  readonly network: SimNetwork;
  readonly nodes: SimNode[] = [];
  readonly config: ClusterConfig;
  readonly violations: string[] = [];
  now = 0;
  private event = 0;
  private readonly options: SimClusterOptions;
  /** Whether the replicas' state machines answer through promises (a third of the seeds). */
  readonly asyncApply: boolean;
  /** Set when an engine may be waiting on an already settled promise (a start's load). */
  private reactionsPending = false;
  private flushQueue: { node: SimNode; engine: MultiPaxosEngine; flush: () => void }[] = [];
  /** The value known chosen for each slot (from commits, applies and acceptor quorums). */
  private readonly chosen = new Map<number, string>();
  private readonly leaderOfBallot = new Map<number, number>();

  constructor(options: SimClusterOptions) {
    this.options = options;
    this.random = new SimRandom(options.seed);
    this.network = new SimNetwork(this.random);
    this.config = {
      members: Array.from({ length: options.replicas }, (_, i) => ({
        nodeId: `n${i + 1}`,
        replicaId: i + 1,
      })),
    };
    // The disks draw from their own stream so they do not perturb the rest of the run.
    const diskRandom = new SimRandom(mixSeed(options.seed ^ 0x2545f491));
    const profiles = drawDiskProfiles(diskRandom, options.replicas, options.disks ?? "seeded");
    this.asyncApply = options.disks !== "perfect" && diskRandom.chance(0.33);
    for (const member of this.config.members) {
      const storage = new FaultyStorage(
        () => this.now,
        diskRandom.fork(),
        profiles[member.replicaId - 1] ?? PERFECT_DISK,
      );
      this.nodes.push({
        replicaId: member.replicaId,
        nodeId: member.nodeId,
        storage,
        engine: undefined,
        machine: this.newMachine(),
        tickSource: new ManualTickSource(),
        pausedUntil: 0,
        lastAppliedSeen: 0,
        commitSeen: 0,
        checkedThrough: 0,
        crashes: 0,
        halts: 0,
      });
    }
    for (const node of this.nodes) {
      node.storage.onCrash = () => this.crash(node);
    }
  }

  /** A unique, increasing event number for the client history. */
  nextEvent(): number {
    this.event += 1;
    return this.event;
  }

  /** Starts every replica. */
  startAll(): void {
    for (const node of this.nodes) {
      this.startNode(node);
    }
  }

  /** Whether `node` runs and is not paused. */
  isAvailable(node: SimNode): boolean {
    return node.engine !== undefined && node.pausedUntil <= this.now;
  }

  /** The node with `replicaId`. */
  node(replicaId: number): SimNode {
    const node = this.nodes.find((candidate) => candidate.replicaId === replicaId);
    if (node === undefined) {
      throw new Error(`no replica ${replicaId}`);
    }
    return node;
  }

  /** The node called `nodeId`, if any. */
  nodeByName(nodeId: string): SimNode | undefined {
    return this.nodes.find((candidate) => candidate.nodeId === nodeId);
  }

  /** Available replicas that believe they lead, highest ballot first. */
  leaders(): SimNode[] {
    return this.nodes
      .filter((node) => this.isAvailable(node) && node.engine?.isLeader() === true)
      .sort((a, b) => (b.engine?.currentTerm() ?? 0) - (a.engine?.currentTerm() ?? 0));
  }

  /** (Re)starts a crashed replica from what its storage persisted. */
  startNode(node: SimNode): void {
    if (node.engine !== undefined) {
      return;
    }
    node.storage.clearCrashPoint();
    node.machine = this.newMachine();
    node.tickSource = new ManualTickSource();
    node.lastAppliedSeen = node.storage.durableSnapshotIndex();
    node.commitSeen = 0;
    node.checkedThrough = 0;
    const engine: MultiPaxosEngine = new MultiPaxosEngine({
      nodeId: node.nodeId,
      config: this.config,
      storage: node.storage,
      transport: this.network.endpoint(node.replicaId),
      stateMachine: this.asyncApply ? this.answeringLater(node.machine) : node.machine,
      rng: new SimRandom(this.random.fork()),
      tickSource: node.tickSource,
      coreOptions: { ...SIM_CORE_OPTIONS, ...this.options.coreOptions },
      snapshotIntervalSlots: this.options.snapshotIntervalSlots ?? 25,
      retainSlots: this.options.retainSlots ?? 5,
      proposalTimeoutTicks: 60,
      schedule: (flush) => this.flushQueue.push({ node, engine, flush }),
      hooks: {
        onHalt: (error) => this.onHalt(node, engine, error),
        onApply: (entry) => this.onApply(node, entry),
        onSnapshotInstalled: (index) => {
          if (index <= node.lastAppliedSeen) {
            this.violations.push(`t=${this.now} ${node.nodeId} installed an older snapshot`);
          }
          node.lastAppliedSeen = index;
        },
      },
    });
    node.engine = engine;
    this.reactionsPending = true;
    engine.start().catch((error: unknown) => {
      if (node.engine !== engine) {
        return;
      }
      node.engine = undefined;
      // The one acceptable reason not to start: the disk holds a record that fails its check.
      if (!(node.storage.isCorrupted() && isStorageFailure(error))) {
        this.violations.push(`t=${this.now} ${node.nodeId} failed to start: ${String(error)}`);
      }
    });
  }

  private newMachine(): KvMachine {
    return new KvMachine({
      batched: this.options.batchedApply,
      ...(this.options.sessionRuntime === undefined
        ? {}
        : { runtime: this.options.sessionRuntime }),
    });
  }

  /**
   * The same machine answering through promises, as a machine that runs commands in a worker
   * does: the engine must wait for each before the next, in log order.
   */
  private answeringLater(machine: KvMachine): StateMachine {
    return {
      apply: (command, context) => {
        this.reactionsPending = true;
        return Promise.resolve().then(() => machine.apply(command, context));
      },
      snapshot: () => machine.snapshot(),
      restore: (snapshot) => machine.restore(snapshot),
    };
  }

  /** A replica halted itself; only an injected storage failure is a reason to. */
  private onHalt(node: SimNode, engine: MultiPaxosEngine, error: ConsensusError): void {
    if (node.engine !== engine) {
      return;
    }
    node.engine = undefined;
    node.halts += 1;
    if (error.code !== "StorageFailure") {
      this.violations.push(`t=${this.now} ${node.nodeId} halted: ${error.message}`);
    }
  }

  /** What every disk injected, summed. */
  diskFaultEvents(): DiskFaultEvents {
    const total: DiskFaultEvents = {
      tornWrites: 0,
      lostWrites: 0,
      crashesDuringWrite: 0,
      failures: 0,
      corruptions: 0,
      refusedLoads: 0,
    };
    for (const node of this.nodes) {
      for (const key of Object.keys(total) as (keyof DiskFaultEvents)[]) {
        total[key] += node.storage.events[key];
      }
    }
    return total;
  }

  /** Crashes a replica now, losing its memory but not its storage. */
  crash(node: SimNode): void {
    const engine = node.engine;
    if (engine === undefined) {
      return;
    }
    node.engine = undefined;
    node.crashes += 1;
    node.storage.crash();
    void engine.stop();
  }

  /** Arms the replica's storage so it crashes on its next write, before or after persisting. */
  crashOnNextPersist(node: SimNode, point: CrashPoint): void {
    if (node.engine !== undefined) {
      node.storage.arm(point);
    }
  }

  /** Freezes a replica for `ticks` ticks: it neither ticks nor receives. */
  pause(node: SimNode, ticks: number): void {
    node.pausedUntil = Math.max(node.pausedUntil, this.now + ticks);
  }

  /** One tick of simulated time: deliver due messages, tick replicas, check safety. */
  async step(beforeTick?: () => void): Promise<void> {
    this.now += 1;
    this.network.deliverDue(this.now, (replicaId) => !this.isAvailable(this.node(replicaId)));
    await this.settle();
    for (const node of this.nodes) {
      if (this.isAvailable(node)) {
        node.tickSource.tick();
      }
    }
    await this.settle();
    beforeTick?.();
    await this.settle();
    this.checkSafety();
  }

  /**
   * Runs scheduled Ready cycles and completes due disk writes until nothing is left to do at
   * this tick. Engines continue after a write in a promise reaction, so the simulator yields to
   * the microtask queue in between: still one thread, and the order is fixed by the code, so a
   * seed replays exactly.
   */
  async settle(): Promise<void> {
    for (let round = 0; round < 1000; round += 1) {
      this.runFlushes();
      let completed = false;
      for (const node of this.nodes) {
        if (node.pausedUntil <= this.now && node.storage.advance(this.now)) {
          completed = true;
        }
      }
      if (completed || this.reactionsPending) {
        this.reactionsPending = false;
        for (let hop = 0; hop < MICROTASK_HOPS; hop += 1) {
          await undefined;
        }
      }
      if (!completed && !this.reactionsPending && this.flushQueue.length === 0) {
        return;
      }
    }
  }

  /** Runs every scheduled flush (bounded); a simulated crash takes its replica down. */
  runFlushes(): void {
    for (let round = 0; round < 10_000 && this.flushQueue.length > 0; round += 1) {
      const queue = this.flushQueue;
      this.flushQueue = [];
      for (const item of queue) {
        if (item.node.engine === item.engine) {
          this.guard(item.node, item.flush);
        }
      }
    }
  }

  private guard(node: SimNode, action: () => void): void {
    try {
      action();
    } catch (error) {
      this.violations.push(`t=${this.now} ${node.nodeId} threw: ${String(error)}`);
      node.engine = undefined;
    }
  }

  private onApply(node: SimNode, entry: Entry): void {
    if (entry.index !== node.lastAppliedSeen + 1) {
      this.violations.push(
        `t=${this.now} ${node.nodeId} applied slot ${entry.index} after ${node.lastAppliedSeen}`,
      );
    }
    node.lastAppliedSeen = entry.index;
    this.recordChosen(entry.index, valueKey(entry.value), `${node.nodeId} applied`);
  }

  private recordChosen(index: number, key: string, source: string): void {
    const known = this.chosen.get(index);
    if (known === undefined) {
      this.chosen.set(index, key);
    } else if (known !== key) {
      this.violations.push(
        `t=${this.now} slot ${index}: ${source} value [${key}] but [${known}] was chosen`,
      );
    }
  }

  /** Runs every safety check; violations are collected in `violations`. */
  checkSafety(): void {
    let lowCommit = Number.POSITIVE_INFINITY;
    let highLast = 0;
    for (const node of this.nodes) {
      const engine = node.engine;
      const status = engine?.status();
      if (engine === undefined || status === undefined) {
        continue;
      }
      if (node.storage.isCorrupted() && engine.isLeader()) {
        this.violations.push(`t=${this.now} ${node.nodeId} leads on a disk it cannot vouch for`);
      }
      if (status.commitIndex < node.commitSeen) {
        this.violations.push(`t=${this.now} ${node.nodeId} commit index fell`);
      }
      node.commitSeen = status.commitIndex;
      // A replica's memory runs ahead of its disk while a write is in flight (a leader even
      // counts its own unwritten slot toward a commit); what a crash may still undo is not
      // chosen, so only a replica at rest with its disk is read.
      if (!node.storage.writing()) {
        const from = Math.max(node.checkedThrough, status.compactedIndex) + 1;
        for (let index = from; index <= status.commitIndex; index += 1) {
          const entry = engine.entryAt(index);
          if (entry !== undefined) {
            this.recordChosen(index, valueKey(entry.value), `${node.nodeId} committed`);
          }
        }
        node.checkedThrough = status.commitIndex;
      }
      lowCommit = Math.min(lowCommit, status.commitIndex);
      highLast = Math.max(highLast, status.lastIndex);
      if (status.role === "leader") {
        const owner = this.leaderOfBallot.get(status.promisedBallot);
        if (owner !== undefined && owner !== node.replicaId) {
          this.violations.push(`t=${this.now} two leaders of ballot ${status.promisedBallot}`);
        }
        this.leaderOfBallot.set(status.promisedBallot, node.replicaId);
      }
    }
    this.checkAcceptorQuorums(lowCommit, highLast);
  }

  /**
   * A value accepted at the same ballot by a quorum of (running) acceptors is chosen, whether
   * or not anyone knows it yet; it must agree with every other chosen value of its slot.
   */
  private checkAcceptorQuorums(lowCommit: number, highLast: number): void {
    if (!Number.isFinite(lowCommit)) {
      return;
    }
    const quorum = Math.floor(this.nodes.length / 2) + 1;
    const from = Math.max(1, lowCommit + 1);
    const to = Math.min(highLast, from + 64);
    for (let index = from; index <= to; index += 1) {
      const votes = new Map<string, number>();
      for (const node of this.nodes) {
        const entry = node.storage.writing() ? undefined : node.engine?.entryAt(index);
        if (entry === undefined) {
          continue;
        }
        const key = `${entry.ballot}|${valueKey(entry.value)}`;
        votes.set(key, (votes.get(key) ?? 0) + 1);
      }
      for (const [key, count] of votes) {
        if (count >= quorum) {
          this.recordChosen(index, key.slice(key.indexOf("|") + 1), "acceptor quorum");
        }
      }
    }
  }

  /** The highest slot known chosen. */
  chosenSlots(): number {
    return this.chosen.size;
  }
}

/**
 * Promise reactions an engine needs after a write completes before it is at rest again (the
 * write's reaction, then a start's `await`s). Fewer would only delay work to the next round.
 */
const MICROTASK_HOPS = 4;

/**
 * Scrambles a seed (the murmur3 finaliser) so that neighbouring seeds give unrelated streams:
 * the generator's first outputs barely move when its seed moves by one.
 */
function mixSeed(seed: number): number {
  let h = seed >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function isStorageFailure(error: unknown): boolean {
  return error instanceof ConsensusError && error.code === "StorageFailure";
}

/**
 * Each disk fault is enabled for a minority of seeds: write latency (half), power cuts while a
 * write is in flight (a quarter, among the slow disks), torn writes on a crash (a third), I/O
 * failures (a sixth), and for a sixth of the seeds of three or more replicas a record that rots
 * on one replica's disk (which must then refuse to start).
 */
function drawDiskProfiles(
  random: SimRandom,
  replicas: number,
  mode: "seeded" | "perfect",
): DiskProfile[] {
  if (mode === "perfect") {
    return Array.from({ length: replicas }, () => PERFECT_DISK);
  }
  const slow = random.chance(0.5);
  const powerCuts = slow && random.chance(0.5);
  const tornWrites = random.chance(0.33);
  const failing = random.chance(0.16);
  const rotting = replicas >= 3 && random.chance(0.16) ? random.between(1, replicas) : 0;
  return Array.from({ length: replicas }, (_, i) => ({
    writeLatencyTicks: slow ? random.between(0, 3) : 0,
    tornWrites,
    failureRate: failing ? random.between(5, 20) / 1000 : 0,
    corruptAtTick: rotting === i + 1 ? random.between(20, 250) : undefined,
    crashDuringWriteRate: powerCuts ? random.between(5, 30) / 1000 : 0,
  }));
}
