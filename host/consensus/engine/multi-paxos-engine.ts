import {
  type ClusterConfig,
  type CoreOptions,
  DEFAULT_CORE_OPTIONS,
  type Member,
  memberByNodeId,
  memberByReplicaId,
} from "../core/config.js";
import type { Command, Entry } from "../core/entry.js";
import { ConsensusError, invariant } from "../core/errors.js";
import type { Message } from "../core/messages.js";
import type { Ready } from "../core/ready.js";
import { Replica, type ReplicaStatus } from "../core/replica.js";
import type { Rng } from "../core/rng.js";
import { type CommandOutcome, ReplicatedStateMachine, type StateMachine } from "../statemachine.js";
import type { ConsensusStorage } from "../storage/storage.js";
import type { Transport } from "../transport/transport.js";
import type { ConsensusEngine, ProposalResult, ProposeOptions } from "./engine.js";
import type { TickSource } from "./tick-source.js";

/** Observers for tests and the simulator; they must not throw. */
export interface EngineHooks {
  /** Called for every slot applied, in order, after the state machine applied it. */
  onApply?(entry: Entry): void;
  /** Called after the state machine was restored from a snapshot received from a peer. */
  onSnapshotInstalled?(index: number): void;
}

/** How an engine is wired: identity, adapters, limits. */
export interface MultiPaxosEngineOptions {
  readonly nodeId: string;
  readonly config: ClusterConfig;
  readonly storage: ConsensusStorage;
  readonly transport: Transport;
  readonly stateMachine: StateMachine;
  readonly rng: Rng;
  readonly tickSource: TickSource;
  readonly coreOptions?: Partial<CoreOptions>;
  /** A snapshot is taken after this many slots were applied since the previous one. */
  readonly snapshotIntervalSlots?: number;
  /** Slots kept below a snapshot so slightly lagging followers need no snapshot. */
  readonly retainSlots?: number;
  /** Default deadline of a proposal. */
  readonly proposalTimeoutTicks?: number;
  /** Most proposals awaiting their outcome at once. */
  readonly maxOutstandingProposals?: number;
  /** Most Ready rounds processed in one flush before yielding. */
  readonly maxReadyRoundsPerFlush?: number;
  /**
   * Schedules a flush (Ready processing). Defaults to `queueMicrotask`, which batches every
   * proposal and message of one event-loop turn into one Ready. The simulator injects its own.
   */
  readonly schedule?: (flush: () => void) => void;
  readonly hooks?: EngineHooks;
}

type ProposalCallback = (outcome: ProposalResult | ConsensusError) => void;

interface Outstanding {
  readonly callbacks: ProposalCallback[];
  readonly deadlineTick: number;
  /** The ballot this replica led with when the proposal entered its queue. */
  readonly ballot: number;
}

/** Anonymous proposals use client ids with this prefix; they are never deduplicated. */
const ANONYMOUS_PREFIX = "\u0000";

/**
 * Runs one {@link Replica} over a storage and a transport: the driver of the Ready contract.
 * Every input (tick, message, proposal) schedules a flush; a flush repeatedly takes a Ready,
 * persists it, then sends its messages, then applies committed slots and resolves the proposals
 * they contain, then advances the core.
 */
export class MultiPaxosEngine implements ConsensusEngine {
  private readonly options: MultiPaxosEngineOptions;
  private readonly coreOptions: CoreOptions;
  private readonly replicaIdValue: number;
  private readonly rsm: ReplicatedStateMachine;
  private readonly schedule: (flush: () => void) => void;
  private core: Replica | undefined;
  private running = false;
  private flushScheduled = false;
  private ticks = 0;
  private readonly outstanding = new Map<string, Outstanding>();
  private waiters: { index: number; resolve: () => void }[] = [];
  private lastSnapshotIndex = 0;
  private anonymousClientId = "";
  private anonymousRequestId = 0;

  constructor(options: MultiPaxosEngineOptions) {
    const member = memberByNodeId(options.config, options.nodeId);
    if (member === undefined) {
      throw new ConsensusError("InvalidArgument", `node ${options.nodeId} is not a member`);
    }
    this.options = options;
    this.replicaIdValue = member.replicaId;
    this.coreOptions = { ...DEFAULT_CORE_OPTIONS, ...options.coreOptions };
    this.rsm = new ReplicatedStateMachine(options.stateMachine);
    this.schedule = options.schedule ?? queueMicrotask;
  }

  // ---------------------------------------------------------------- lifecycle

  async start(): Promise<void> {
    this.startSync();
  }

  /** Synchronous `start()`, for the single-threaded simulator. */
  startSync(): void {
    invariant(!this.running && this.core === undefined, "an engine starts once");
    const persisted = this.options.storage.load();
    if (persisted.snapshot !== undefined) {
      this.rsm.restore(persisted.snapshot.data);
      invariant(this.rsm.appliedIndex() === persisted.snapshot.index, "snapshot index mismatch");
      this.lastSnapshotIndex = persisted.snapshot.index;
    }
    this.core = new Replica({
      config: this.options.config,
      replicaId: this.replicaIdValue,
      options: this.coreOptions,
      rng: this.options.rng,
      hardState: persisted.hardState,
      snapshot: persisted.snapshot,
      compactedIndex: persisted.compactedIndex,
      entries: persisted.entries,
    });
    this.anonymousClientId = `${ANONYMOUS_PREFIX}${this.options.nodeId}:${this.options.rng.nextInt(2 ** 30)}:${persisted.hardState.promisedBallot}`;
    this.running = true;
    this.options.transport.onMessage((message) => this.receive(message));
    this.options.tickSource.start(() => this.tick());
    this.flush();
  }

  async stop(): Promise<void> {
    this.halt(new ConsensusError("Stopped", "engine stopped"));
  }

  private halt(error: ConsensusError): void {
    this.running = false;
    this.options.tickSource.stop();
    this.options.transport.close();
    const outstanding = [...this.outstanding.values()];
    this.outstanding.clear();
    for (const entry of outstanding) {
      for (const callback of entry.callbacks) {
        callback(error);
      }
    }
  }

  // ---------------------------------------------------------------- inputs

  /** Advances the engine's logical clock by one tick. */
  tick(): void {
    if (!this.running || this.core === undefined) {
      return;
    }
    this.ticks += 1;
    this.core.tick();
    this.expireProposals();
    this.requestFlush();
  }

  /** Hands a message from the transport to the core. */
  receive(message: Message): void {
    if (!this.running || this.core === undefined) {
      return;
    }
    this.core.step(message);
    this.requestFlush();
  }

  propose(payload: Uint8Array, options: ProposeOptions = {}): Promise<ProposalResult> {
    return new Promise((resolve, reject) => {
      this.submit(payload, options, (outcome) => {
        if (outcome instanceof ConsensusError) {
          reject(outcome);
        } else {
          resolve(outcome);
        }
      });
    });
  }

  /**
   * Callback form of `propose`, used by the simulator: `callback` runs exactly once, possibly
   * synchronously (for immediate rejections).
   */
  submit(payload: Uint8Array, options: ProposeOptions, callback: ProposalCallback): void {
    const core = this.core;
    if (!this.running || core === undefined) {
      callback(new ConsensusError("Stopped", "engine is not running"));
      return;
    }
    let clientId = options.clientId;
    let requestId = options.requestId;
    if (clientId === undefined || requestId === undefined) {
      clientId = this.anonymousClientId;
      this.anonymousRequestId += 1;
      requestId = this.anonymousRequestId;
    }
    if (clientId.startsWith(ANONYMOUS_PREFIX) && clientId !== this.anonymousClientId) {
      callback(new ConsensusError("InvalidArgument", "client ids must not start with NUL"));
      return;
    }
    const key = outstandingKey(clientId, requestId);
    const existing = this.outstanding.get(key);
    if (existing === undefined && this.outstanding.size >= this.maxOutstanding()) {
      callback(new ConsensusError("Overloaded", "too many outstanding proposals"));
      return;
    }
    const command: Command = { clientId, requestId, payload };
    try {
      core.propose([command]);
    } catch (error) {
      if (error instanceof ConsensusError && error.code === "NotLeader") {
        callback(new ConsensusError("NotLeader", error.message, this.leaderId()));
        return;
      }
      callback(asConsensusError(error));
      return;
    }
    const ballot = core.promisedBallot();
    const timeout = options.timeoutTicks ?? this.options.proposalTimeoutTicks ?? 1000;
    if (existing !== undefined) {
      existing.callbacks.push(callback);
    } else {
      this.outstanding.set(key, {
        callbacks: [callback],
        deadlineTick: this.ticks + timeout,
        ballot,
      });
    }
    this.requestFlush();
  }

  // ---------------------------------------------------------------- queries

  waitForCommit(index: number): Promise<void> {
    if (this.rsm.appliedIndex() >= index) {
      return Promise.resolve();
    }
    if (this.waiters.length >= this.maxOutstanding()) {
      return Promise.reject(new ConsensusError("Overloaded", "too many commit waiters"));
    }
    return new Promise((resolve) => {
      this.waiters.push({ index, resolve });
    });
  }

  isLeader(): boolean {
    return this.core?.status().role === "leader";
  }

  currentTerm(): number {
    return this.core?.status().promisedBallot ?? 0;
  }

  nodeId(): string {
    return this.options.nodeId;
  }

  /** The numeric replica id this node maps to. */
  replicaId(): number {
    return this.replicaIdValue;
  }

  leaderId(): string | undefined {
    const leader = this.core?.status().leaderReplicaId;
    if (leader === undefined) {
      return undefined;
    }
    return memberByReplicaId(this.options.config, leader)?.nodeId;
  }

  lastAppliedIndex(): number {
    return this.rsm.appliedIndex();
  }

  /** The core's status, for tests and the simulator. */
  status(): ReplicaStatus | undefined {
    return this.core?.status();
  }

  /** The entry this replica's acceptor holds in `index`, for the simulator's checks. */
  entryAt(index: number): Entry | undefined {
    return this.core?.entryAt(index);
  }

  /** The number of proposals awaiting an outcome. */
  outstandingProposals(): number {
    return this.outstanding.size;
  }

  async addMember(_member: Member): Promise<void> {
    throw new ConsensusError("NotImplemented", "membership changes are not implemented");
  }

  async removeMember(_nodeId: string): Promise<void> {
    throw new ConsensusError("NotImplemented", "membership changes are not implemented");
  }

  // ---------------------------------------------------------------- the Ready loop

  private requestFlush(): void {
    if (this.flushScheduled) {
      return;
    }
    this.flushScheduled = true;
    this.schedule(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Processes Readys until the core has nothing left (bounded per call). */
  flush(): void {
    const core = this.core;
    if (!this.running || core === undefined) {
      return;
    }
    const maxRounds = this.options.maxReadyRoundsPerFlush ?? 64;
    try {
      for (let round = 0; round < maxRounds && core.hasReady(); round += 1) {
        const ready = core.ready();
        this.handleReady(core, ready);
        core.advance(ready);
        this.maybeSnapshot(core);
      }
    } catch (error) {
      // A replica that failed to persist or apply can no longer vouch for its promises: stop it.
      this.halt(new ConsensusError("Stopped", `replica halted: ${String(error)}`));
      throw error;
    }
    this.checkLeadership(core);
    if (core.hasReady()) {
      this.requestFlush();
    }
  }

  private handleReady(core: Replica, ready: Ready): void {
    // 1. Persist: nothing may be sent that promises state not yet durable.
    if (ready.hardState !== undefined || ready.entries.length > 0 || ready.snapshot) {
      this.options.storage.persist({
        hardState: ready.hardState,
        snapshot: ready.snapshot,
        entries: ready.entries,
      });
    }
    // 2. Send.
    for (const message of ready.messages) {
      this.options.transport.send(message);
    }
    // 3. Apply.
    if (ready.snapshot !== undefined) {
      this.rsm.restore(ready.snapshot.data);
      invariant(this.rsm.appliedIndex() === ready.snapshot.index, "snapshot index mismatch");
      this.lastSnapshotIndex = ready.snapshot.index;
      this.options.hooks?.onSnapshotInstalled?.(ready.snapshot.index);
    }
    const leaderId = this.leaderId() ?? this.options.nodeId;
    for (const entry of ready.committedEntries) {
      const outcomes = this.rsm.applyEntry(entry);
      this.options.hooks?.onApply?.(entry);
      if (this.outstanding.size > 0) {
        for (const outcome of outcomes) {
          this.settle(outcome, leaderId);
        }
      }
    }
    for (const command of ready.droppedCommands) {
      this.fail(
        outstandingKey(command.clientId, command.requestId),
        new ConsensusError("NotLeader", "leadership lost before the proposal got a slot"),
      );
    }
    this.releaseWaiters();
    invariant(core.status().commitIndex >= this.rsm.appliedIndex(), "applied beyond commit");
  }

  private settle(outcome: CommandOutcome, leaderId: string): void {
    const key = outstandingKey(outcome.clientId, outcome.requestId);
    if (outcome.error !== undefined) {
      this.fail(key, new ConsensusError(outcome.error, "a newer request was applied"));
      return;
    }
    const entry = this.outstanding.get(key);
    if (entry === undefined || outcome.result === undefined) {
      return;
    }
    this.outstanding.delete(key);
    const result: ProposalResult = {
      index: outcome.index,
      term: outcome.ballot,
      leaderId,
      result: outcome.result,
    };
    for (const callback of entry.callbacks) {
      callback(result);
    }
  }

  private fail(key: string, error: ConsensusError): void {
    const entry = this.outstanding.get(key);
    if (entry === undefined) {
      return;
    }
    this.outstanding.delete(key);
    for (const callback of entry.callbacks) {
      callback(error);
    }
  }

  /** A leadership change leaves every in-flight proposal's fate unknown: say so. */
  private checkLeadership(core: Replica): void {
    if (this.outstanding.size === 0) {
      return;
    }
    const status = core.status();
    const ballot = status.role === "leader" ? status.promisedBallot : -1;
    const lost: string[] = [];
    for (const [key, entry] of this.outstanding) {
      if (entry.ballot !== ballot) {
        lost.push(key);
      }
    }
    for (const key of lost) {
      this.fail(
        key,
        new ConsensusError("Indeterminate", "leadership changed while the proposal was in flight"),
      );
    }
  }

  private expireProposals(): void {
    for (const [key, entry] of this.outstanding) {
      if (entry.deadlineTick > this.ticks) {
        continue;
      }
      this.fail(key, new ConsensusError("Timeout", "proposal not committed before its deadline"));
    }
  }

  private releaseWaiters(): void {
    if (this.waiters.length === 0) {
      return;
    }
    const applied = this.rsm.appliedIndex();
    const remaining: { index: number; resolve: () => void }[] = [];
    for (const waiter of this.waiters) {
      if (waiter.index <= applied) {
        waiter.resolve();
      } else {
        remaining.push(waiter);
      }
    }
    this.waiters = remaining;
  }

  private maybeSnapshot(core: Replica): void {
    const interval = this.options.snapshotIntervalSlots ?? 10_000;
    const applied = this.rsm.appliedIndex();
    if (applied - this.lastSnapshotIndex < interval) {
      return;
    }
    const snapshot = {
      index: applied,
      ballot: core.entryAt(applied)?.ballot ?? 0,
      data: this.rsm.snapshot(),
    };
    const compactThrough = Math.max(0, applied - (this.options.retainSlots ?? 1000));
    this.options.storage.compact(snapshot, compactThrough);
    core.compact(snapshot, compactThrough);
    this.lastSnapshotIndex = applied;
  }

  private maxOutstanding(): number {
    return this.options.maxOutstandingProposals ?? 100_000;
  }
}

function outstandingKey(clientId: string, requestId: number): string {
  return `${clientId}\u0001${requestId}`;
}

function asConsensusError(error: unknown): ConsensusError {
  if (error instanceof ConsensusError) {
    return error;
  }
  return new ConsensusError("InvariantViolated", String(error));
}
