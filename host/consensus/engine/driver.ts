import {
  type ClusterConfig,
  type CoreOptions,
  DEFAULT_CORE_OPTIONS,
  type Member,
  memberByNodeId,
  memberByReplicaId,
} from "../core/config.js";
import { type Command, type Entry, MAX_CLIENT_ID_BYTES, type Snapshot } from "../core/entry.js";
import { ConsensusError, invariant } from "../core/errors.js";
import type { Message } from "../core/messages.js";
import type { Ready } from "../core/ready.js";
import { Replica, type ReplicaStatus } from "../core/replica.js";
import type { Rng } from "../core/rng.js";
import { emptyStats, type ReplicaStats } from "../core/stats.js";
import { ANONYMOUS_CLIENT_PREFIX, type SessionOptions } from "../sessions.js";
import { type CommandOutcome, ReplicatedStateMachine, type StateMachine } from "../statemachine.js";
import type { ConsensusStorage } from "../storage/storage.js";
import type { Transport } from "../transport/transport.js";
import type { ConsensusEngine, ProposalResult, ProposeOptions } from "./engine.js";
import type { TickSource } from "./tick-source.js";

/** Counters of one engine since it was created; they only grow (see `ReplicaDriver.stats`). */
export interface EngineStats {
  readonly core: ReplicaStats;
  /** Inbound messages dropped because the buffer was full while a cycle was in flight. */
  readonly droppedMessages: number;
}

/** Observers for tests and the simulator; they must not throw. */
export interface EngineHooks {
  /** Called for every slot applied, in order, after the state machine applied it. */
  onApply?(entry: Entry): void;
  /** Called after the state machine was restored from a snapshot received from a peer. */
  onSnapshotInstalled?(index: number): void;
  /** Called once when the replica halts on a fault of this node (storage or apply failure). */
  onHalt?(error: ConsensusError): void;
}

/** How a driver is wired: identity, adapters, limits. */
export interface DriverOptions {
  readonly nodeId: string;
  readonly config: ClusterConfig;
  readonly storage: ConsensusStorage;
  readonly transport: Transport;
  readonly stateMachine: StateMachine;
  readonly rng: Rng;
  readonly tickSource: TickSource;
  readonly coreOptions?: Partial<CoreOptions>;
  /** Client-session limits of the replicated state machine; identical on every replica. */
  readonly sessions?: Partial<SessionOptions>;
  /** A snapshot is taken after this many slots were applied since the previous one. */
  readonly snapshotIntervalSlots?: number;
  /** Slots kept below a snapshot so slightly lagging followers need no snapshot. */
  readonly retainSlots?: number;
  /** Default deadline of a proposal. */
  readonly proposalTimeoutTicks?: number;
  /** Most proposals (and commit waiters) awaiting their outcome at once. */
  readonly maxOutstandingProposals?: number;
  /** Most messages held while a Ready is being persisted and applied; beyond it they drop. */
  readonly maxBufferedMessages?: number;
  /**
   * Schedules a Ready cycle. Defaults to `queueMicrotask`, which batches every proposal and
   * message of one event-loop turn into one Ready. The simulator injects its own.
   */
  readonly schedule?: (run: () => void) => void;
  readonly hooks?: EngineHooks;
}

type ProposalCallback = (outcome: ProposalResult | ConsensusError) => void;

interface Outstanding {
  readonly callbacks: ProposalCallback[];
  readonly deadlineTick: number;
  /** The ballot this replica led with when the proposal entered its queue. */
  readonly ballot: number;
  /**
   * Whether some copy of the request was ever seen in a slot by this replica (placed by it or
   * accepted from another leader). Only a request never placed may be answered `NotLeader`.
   */
  placed: boolean;
}

type Phase = "new" | "starting" | "running" | "stopped" | "halted";

/**
 * Runs one {@link Replica} over a storage, a transport and a state machine: the one driver of the
 * Ready contract, used by the Multi-Paxos engine and (with a one-member config) the single-node
 * engine. A Ready cycle is strictly sequential:
 *
 * 1. take a Ready from the core and note which outstanding requests now sit in a slot;
 * 2. persist its durable part and wait for the storage to resolve;
 * 3. send its messages (they may promise what was just persisted);
 * 4. restore a received snapshot, then apply committed slots one at a time in log order,
 *    awaiting each (the state machine may be asynchronous), settling the proposals they answer;
 * 5. advance the core, then maybe snapshot and compact (awaited), then start the next cycle.
 *
 * While a cycle is in flight, proposals go straight into the core's queue and messages and ticks
 * are buffered (bounded) and stepped in when the cycle ends, so the next Ready, and its one
 * persist, carries everything that accumulated: group commit. Any storage or apply failure halts
 * the replica and settles every outstanding proposal and waiter; nothing is left hanging.
 */
export class ReplicaDriver implements ConsensusEngine {
  protected readonly options: DriverOptions;
  private readonly coreOptions: CoreOptions;
  private readonly replicaIdValue: number;
  private readonly rsm: ReplicatedStateMachine;
  private readonly schedule: (run: () => void) => void;
  private core: Replica | undefined;
  private phase: Phase = "new";
  private haltError: ConsensusError | undefined;
  private scheduled = false;
  private cycleInFlight = false;
  /** Settles when the storage call in flight (if any) settles; `stop()` waits for it. */
  private storageCall: Promise<unknown> = Promise.resolve();
  private ticks = 0;
  /** No outstanding proposal's deadline falls before this tick. */
  private nextDeadlineTick = Number.POSITIVE_INFINITY;
  private bufferedTicks = 0;
  private bufferedMessages: Message[] = [];
  private readonly outstanding = new Map<string, Outstanding>();
  /** Request keys in each slot of this acceptor's log that is not applied yet. */
  private readonly slotKeys = new Map<number, string[]>();
  /** How many such open slots hold a copy of each request. */
  private readonly openCopies = new Map<string, number>();
  private waiters: { index: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  private lastSnapshotIndex = 0;
  /** The promised ballot of the last persisted hard state. */
  private persistedBallot = 0;
  private anonymousClientId = "";
  private anonymousRequestId = 0;
  /** Messages dropped because the buffer was full while a cycle was in flight. */
  droppedMessages = 0;

  constructor(options: DriverOptions) {
    const member = memberByNodeId(options.config, options.nodeId);
    if (member === undefined) {
      throw new ConsensusError("InvalidArgument", `node ${options.nodeId} is not a member`);
    }
    this.options = options;
    this.replicaIdValue = member.replicaId;
    this.coreOptions = { ...DEFAULT_CORE_OPTIONS, ...options.coreOptions };
    this.rsm = new ReplicatedStateMachine(options.stateMachine, options.sessions);
    this.schedule = options.schedule ?? queueMicrotask;
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Loads persisted state, starts ticking and resolves once every slot committed before the
   * restart is applied again. Rejects with `StorageFailure` (and stays halted) when the storage
   * cannot be loaded, e.g. because it holds a corrupted record.
   */
  async start(): Promise<void> {
    invariant(this.phase === "new", "an engine starts once");
    this.phase = "starting";
    let persisted: Awaited<ReturnType<ConsensusStorage["load"]>>;
    try {
      const loading = this.options.storage.load();
      this.storageCall = loading.catch(() => undefined);
      persisted = await loading;
    } catch (error) {
      const failure = asStorageFailure(error, "load");
      this.halt(failure);
      throw failure;
    }
    if (this.phase !== "starting") {
      throw new ConsensusError("Stopped", "engine stopped while starting");
    }
    if (persisted.snapshot !== undefined) {
      try {
        this.rsm.restore(persisted.snapshot.data);
      } catch (error) {
        // An unreadable snapshot (garbage, another format version): refuse to run on it.
        const failure = asStorageFailure(error, "restoring the persisted snapshot");
        this.halt(failure);
        throw failure;
      }
      invariant(this.rsm.appliedIndex() === persisted.snapshot.index, "snapshot index mismatch");
      this.lastSnapshotIndex = persisted.snapshot.index;
    }
    const core = new Replica({
      config: this.options.config,
      replicaId: this.replicaIdValue,
      options: this.coreOptions,
      rng: this.options.rng,
      hardState: persisted.hardState,
      snapshot: persisted.snapshot,
      compactedIndex: persisted.compactedIndex,
      entries: persisted.entries,
    });
    this.core = core;
    this.persistedBallot = persisted.hardState.promisedBallot;
    this.noteSlots(persisted.entries.filter((entry) => entry.index > this.rsm.appliedIndex()));
    if (this.options.config.members.length === 1) {
      // A lone replica needs no election timeout: ticking its core through one election right
      // away makes it leader before the first proposal (its promise is persisted by the first
      // Ready like any other).
      const limit = 2 * this.coreOptions.electionTimeoutTicks + 1;
      for (let i = 0; i < limit && core.status().role !== "leader"; i += 1) {
        core.tick();
      }
    }
    this.anonymousClientId = `${ANONYMOUS_CLIENT_PREFIX}${this.options.nodeId}:${this.options.rng.nextInt(2 ** 30)}:${persisted.hardState.promisedBallot}`;
    this.phase = "running";
    this.options.transport.onMessage((message) => this.receive(message));
    this.options.tickSource.start(() => this.tick());
    this.requestCycle();
    await this.waitForCommit(persisted.hardState.commitIndex);
  }

  /**
   * Stops ticking and sending, settles every outstanding proposal (`Stopped` if it was never
   * placed in a slot, else `Indeterminate`) and commit waiter, and resolves once the storage call
   * in flight (if any) has settled, so the owner may close the storage afterwards.
   */
  async stop(): Promise<void> {
    if (this.phase !== "halted") {
      this.shutDown("stopped", new ConsensusError("Stopped", "engine stopped"));
    }
    await this.storageCall;
  }

  /** Why the replica halted, if it did. */
  haltReason(): ConsensusError | undefined {
    return this.haltError;
  }

  /** Halts on a fault of this node: it can no longer vouch for its promises. */
  private halt(error: ConsensusError): void {
    if (this.phase === "halted" || this.phase === "stopped") {
      return;
    }
    this.haltError = error;
    this.shutDown("halted", error);
    this.options.hooks?.onHalt?.(error);
  }

  private shutDown(phase: "stopped" | "halted", error: ConsensusError): void {
    const wasRunning = this.phase === "running";
    this.phase = phase;
    if (wasRunning) {
      this.options.tickSource.stop();
      this.options.transport.close();
    }
    this.bufferedMessages = [];
    const outstanding = [...this.outstanding.values()];
    this.outstanding.clear();
    for (const entry of outstanding) {
      const outcome = entry.placed
        ? new ConsensusError("Indeterminate", `the replica stopped (${error.message})`)
        : error;
      for (const callback of entry.callbacks) {
        callback(outcome);
      }
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) {
      waiter.reject(error);
    }
  }

  // ---------------------------------------------------------------- inputs

  /** Advances the engine's logical clock by one tick. */
  tick(): void {
    const core = this.core;
    if (this.phase !== "running" || core === undefined) {
      return;
    }
    this.ticks += 1;
    this.expireProposals();
    if (this.cycleInFlight) {
      this.bufferedTicks += 1;
      return;
    }
    core.tick();
    this.requestCycle();
  }

  /** Hands a message from the transport to the core (buffered while a cycle is in flight). */
  receive(message: Message): void {
    const core = this.core;
    if (this.phase !== "running" || core === undefined) {
      return;
    }
    if (this.cycleInFlight) {
      if (this.bufferedMessages.length >= (this.options.maxBufferedMessages ?? 10_000)) {
        this.droppedMessages += 1;
        return;
      }
      this.bufferedMessages.push(message);
      return;
    }
    core.step(message);
    this.requestCycle();
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
    if (this.phase !== "running" || core === undefined) {
      callback(this.haltError ?? new ConsensusError("Stopped", "engine is not running"));
      return;
    }
    let clientId = options.clientId;
    let requestId = options.requestId;
    if (clientId === undefined || requestId === undefined) {
      clientId = this.anonymousClientId;
      this.anonymousRequestId += 1;
      requestId = this.anonymousRequestId;
    } else if (clientId.startsWith(ANONYMOUS_CLIENT_PREFIX) || clientId.length === 0) {
      callback(new ConsensusError("InvalidArgument", "client ids must be non-empty, not NUL-led"));
      return;
    } else if (Buffer.byteLength(clientId, "utf8") > MAX_CLIENT_ID_BYTES) {
      callback(
        new ConsensusError(
          "InvalidArgument",
          `client ids are at most ${MAX_CLIENT_ID_BYTES} bytes`,
        ),
      );
      return;
    } else if (!Number.isSafeInteger(requestId) || requestId < 1) {
      callback(new ConsensusError("InvalidArgument", "request ids must be positive integers"));
      return;
    }
    const key = outstandingKey(clientId, requestId);
    const ballot = core.promisedBallot();
    const existing = this.outstanding.get(key);
    if (existing !== undefined && existing.ballot === ballot && this.isLeader()) {
      // A retry of a request this leadership already holds: its copy is queued or in a slot
      // and will be driven to an outcome, so wait for that instead of proposing another copy.
      existing.callbacks.push(callback);
      return;
    }
    if (existing !== undefined) {
      this.settleLost(key, existing);
    }
    if (this.outstanding.size >= this.maxOutstanding()) {
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
    const timeout = options.timeoutTicks ?? this.options.proposalTimeoutTicks ?? 1000;
    const deadlineTick = this.ticks + timeout;
    this.nextDeadlineTick = Math.min(this.nextDeadlineTick, deadlineTick);
    this.outstanding.set(key, {
      callbacks: [callback],
      deadlineTick,
      ballot,
      // A copy from an earlier attempt may already sit in an open slot of this log.
      placed: this.openCopies.has(key),
    });
    this.requestCycle();
  }

  // ---------------------------------------------------------------- queries

  waitForCommit(index: number): Promise<void> {
    if (this.rsm.appliedIndex() >= index) {
      return Promise.resolve();
    }
    if (this.phase === "stopped" || this.phase === "halted") {
      return Promise.reject(this.haltError ?? new ConsensusError("Stopped", "engine stopped"));
    }
    if (this.waiters.length >= this.maxOutstanding()) {
      return Promise.reject(new ConsensusError("Overloaded", "too many commit waiters"));
    }
    return new Promise((resolve, reject) => {
      this.waiters.push({ index, resolve, reject });
    });
  }

  isLeader(): boolean {
    return this.phase === "running" && this.core?.status().role === "leader";
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
    if (leader === undefined || this.phase !== "running") {
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

  /**
   * The core's counters (refused messages by reason, snapshot transfers; zeros before start)
   * plus the messages this driver dropped while a cycle was in flight: a copy, read by metrics.
   */
  stats(): EngineStats {
    return { core: this.core?.stats() ?? emptyStats(), droppedMessages: this.droppedMessages };
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

  // ---------------------------------------------------------------- the Ready cycle

  private requestCycle(): void {
    if (this.scheduled || this.cycleInFlight) {
      return;
    }
    this.scheduled = true;
    this.schedule(() => {
      this.scheduled = false;
      this.beginCycle();
    });
  }

  private beginCycle(): void {
    const core = this.core;
    if (this.phase !== "running" || core === undefined || this.cycleInFlight) {
      return;
    }
    if (!core.hasReady()) {
      this.checkLeadership(core);
      return;
    }
    this.cycleInFlight = true;
    const ready = core.ready();
    this.noteSlots(ready.entries);
    if (ready.hardState === undefined && ready.entries.length === 0 && !ready.snapshot) {
      this.afterPersist(core, ready);
      return;
    }
    const sentEarly = this.mayReplicateWhilePersisting(ready);
    if (sentEarly) {
      this.sendAll(ready.messages);
    }
    const persisting = this.options.storage.persist({
      hardState: ready.hardState,
      snapshot: ready.snapshot,
      entries: ready.entries,
    });
    this.storageCall = persisting.catch(() => undefined);
    persisting.then(
      () => this.afterPersist(core, ready, sentEarly),
      (error: unknown) => this.halt(asStorageFailure(error, "persist")),
    );
  }

  /**
   * Whether a Ready's messages may go out while its persist is in flight: the leader writes its
   * own log in parallel with replicating it (etcd does; Raft dissertation 10.2.1), which takes the
   * leader's fdatasync off the critical path. Only a leader's accepts and heartbeats qualify, and
   * only when the Ready keeps the promised ballot: they ask followers for something and promise
   * nothing. Safety rests on the buffering of this driver: the acks they bring arrive while the
   * cycle is in flight and are stepped only after the persist resolved, so the leader counts its
   * own copy of a slot toward a commit only once that copy is durable. A crash before the persist
   * leaves at most followers holding the slot, as if the leader had never accepted it.
   */
  private mayReplicateWhilePersisting(ready: Ready): boolean {
    if (ready.messages.length === 0 || ready.snapshot !== undefined || !this.isLeader()) {
      return false;
    }
    if (ready.hardState !== undefined && ready.hardState.promisedBallot !== this.persistedBallot) {
      return false;
    }
    return ready.messages.every(
      (message) => message.type === "accept" || message.type === "heartbeat",
    );
  }

  private sendAll(messages: readonly Message[]): void {
    for (const message of messages) {
      this.options.transport.send(message);
    }
  }

  private afterPersist(core: Replica, ready: Ready, sentEarly = false): void {
    if (this.phase !== "running") {
      return;
    }
    if (ready.hardState !== undefined) {
      this.persistedBallot = ready.hardState.promisedBallot;
    }
    if (!sentEarly) {
      this.sendAll(ready.messages);
    }
    if (ready.snapshot !== undefined) {
      try {
        this.rsm.restore(ready.snapshot.data);
      } catch (error) {
        this.halt(asApplyFailure(error));
        return;
      }
      invariant(this.rsm.appliedIndex() === ready.snapshot.index, "snapshot index mismatch");
      this.lastSnapshotIndex = ready.snapshot.index;
      for (const index of [...this.slotKeys.keys()]) {
        if (index <= ready.snapshot.index) {
          this.forgetSlot(index);
        }
      }
      this.options.hooks?.onSnapshotInstalled?.(ready.snapshot.index);
    }
    this.applyFrom(core, ready, 0);
  }

  /** Applies committed slots strictly in order, awaiting an asynchronous state machine. */
  private applyFrom(core: Replica, ready: Ready, from: number): void {
    const entries = ready.committedEntries;
    for (let i = from; i < entries.length; i += 1) {
      const entry = entries[i];
      invariant(entry !== undefined, "committed entry missing");
      let applied: CommandOutcome[] | Promise<CommandOutcome[]>;
      try {
        applied = this.rsm.applyEntry(entry);
      } catch (error) {
        this.halt(asApplyFailure(error));
        return;
      }
      if (applied instanceof Promise) {
        applied.then(
          (outcomes) => {
            if (this.phase === "running") {
              this.onApplied(entry, outcomes);
              this.applyFrom(core, ready, i + 1);
            }
          },
          (error: unknown) => this.halt(asApplyFailure(error)),
        );
        return;
      }
      this.onApplied(entry, applied);
    }
    this.finishApply(core, ready);
  }

  private onApplied(entry: Entry, outcomes: readonly CommandOutcome[]): void {
    this.forgetSlot(entry.index);
    this.options.hooks?.onApply?.(entry);
    if (this.outstanding.size > 0) {
      const leaderId = this.leaderId() ?? this.options.nodeId;
      for (const outcome of outcomes) {
        this.settle(outcome, leaderId);
      }
    }
    this.releaseWaiters();
  }

  private finishApply(core: Replica, ready: Ready): void {
    for (const command of ready.droppedCommands) {
      const key = outstandingKey(command.clientId, command.requestId);
      const entry = this.outstanding.get(key);
      if (entry !== undefined) {
        this.settleLost(key, entry);
      }
    }
    core.advance(ready);
    invariant(core.status().commitIndex >= this.rsm.appliedIndex(), "applied beyond commit");
    const snapshot = this.snapshotDue(core);
    if (snapshot === undefined) {
      this.endCycle(core);
      return;
    }
    const compactThrough = Math.max(0, snapshot.index - (this.options.retainSlots ?? 1000));
    const compacting = this.options.storage.compact(snapshot, compactThrough);
    this.storageCall = compacting.catch(() => undefined);
    compacting.then(
      () => {
        if (this.phase === "running") {
          core.compact(snapshot, compactThrough);
          this.lastSnapshotIndex = snapshot.index;
          this.endCycle(core);
        }
      },
      (error: unknown) => this.halt(asStorageFailure(error, "compact")),
    );
  }

  /** Steps in what was buffered during the cycle and starts the next one if there is work. */
  private endCycle(core: Replica): void {
    this.cycleInFlight = false;
    const ticks = this.bufferedTicks;
    const messages = this.bufferedMessages;
    this.bufferedTicks = 0;
    this.bufferedMessages = [];
    for (let i = 0; i < ticks; i += 1) {
      core.tick();
    }
    for (const message of messages) {
      core.step(message);
    }
    this.checkLeadership(core);
    if (core.hasReady()) {
      this.requestCycle();
    }
  }

  /**
   * Records the requests in slots just written to this acceptor's log (replacing what the slots
   * held) and marks the outstanding ones as placed: a copy of them now sits in a slot.
   */
  private noteSlots(entries: readonly Entry[]): void {
    for (const entry of entries) {
      this.forgetSlot(entry.index);
      if (entry.value.kind !== "batch" || entry.index <= this.rsm.appliedIndex()) {
        continue;
      }
      const keys = entry.value.commands.map((command) =>
        outstandingKey(command.clientId, command.requestId),
      );
      this.slotKeys.set(entry.index, keys);
      for (const key of keys) {
        this.openCopies.set(key, (this.openCopies.get(key) ?? 0) + 1);
        const known = this.outstanding.get(key);
        if (known !== undefined) {
          known.placed = true;
        }
      }
    }
  }

  private forgetSlot(index: number): void {
    const keys = this.slotKeys.get(index);
    if (keys === undefined) {
      return;
    }
    this.slotKeys.delete(index);
    for (const key of keys) {
      const copies = (this.openCopies.get(key) ?? 1) - 1;
      if (copies > 0) {
        this.openCopies.set(key, copies);
      } else {
        this.openCopies.delete(key);
      }
    }
  }

  private settle(outcome: CommandOutcome, leaderId: string): void {
    const key = outstandingKey(outcome.clientId, outcome.requestId);
    const entry = this.outstanding.get(key);
    if (entry === undefined) {
      return;
    }
    this.outstanding.delete(key);
    const answer: ProposalResult | ConsensusError =
      outcome.error !== undefined
        ? new ConsensusError(outcome.error, outcome.errorMessage ?? outcome.error)
        : {
            index: outcome.index,
            term: outcome.ballot,
            leaderId,
            result: outcome.result ?? new Uint8Array(),
          };
    for (const callback of entry.callbacks) {
      callback(answer);
    }
  }

  /**
   * The leadership a proposal was made under is gone: `NotLeader` (definitely not committed) if
   * no copy of it was ever placed in a slot here, else `Indeterminate`.
   */
  private settleLost(key: string, entry: Outstanding): void {
    this.outstanding.delete(key);
    const error = entry.placed
      ? new ConsensusError("Indeterminate", "leadership changed while the proposal was in flight")
      : new ConsensusError(
          "NotLeader",
          "leadership lost before the proposal got a slot",
          this.leaderId(),
        );
    for (const callback of entry.callbacks) {
      callback(error);
    }
  }

  private checkLeadership(core: Replica): void {
    if (this.outstanding.size === 0) {
      return;
    }
    const status = core.status();
    const ballot = status.role === "leader" ? status.promisedBallot : -1;
    for (const [key, entry] of this.outstanding) {
      if (entry.ballot !== ballot) {
        this.settleLost(key, entry);
      }
    }
  }

  private expireProposals(): void {
    if (this.ticks < this.nextDeadlineTick) {
      return;
    }
    let next = Number.POSITIVE_INFINITY;
    // Deleting the visited entry while iterating a Map is safe; no copy needed.
    for (const [key, entry] of this.outstanding) {
      if (entry.deadlineTick > this.ticks) {
        next = Math.min(next, entry.deadlineTick);
        continue;
      }
      this.outstanding.delete(key);
      const error = new ConsensusError("Timeout", "proposal not committed before its deadline");
      for (const callback of entry.callbacks) {
        callback(error);
      }
    }
    this.nextDeadlineTick = next;
  }

  private releaseWaiters(): void {
    if (this.waiters.length === 0) {
      return;
    }
    const applied = this.rsm.appliedIndex();
    const remaining: typeof this.waiters = [];
    for (const waiter of this.waiters) {
      if (waiter.index <= applied) {
        waiter.resolve();
      } else {
        remaining.push(waiter);
      }
    }
    this.waiters = remaining;
  }

  /** A snapshot of the state machine when one is due; only ever taken between applies. */
  private snapshotDue(core: Replica): Snapshot | undefined {
    const interval = this.options.snapshotIntervalSlots ?? 10_000;
    const applied = this.rsm.appliedIndex();
    if (applied - this.lastSnapshotIndex < interval) {
      return undefined;
    }
    return {
      index: applied,
      ballot: core.entryAt(applied)?.ballot ?? 0,
      data: this.rsm.snapshot(),
    };
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

function asStorageFailure(error: unknown, call: string): ConsensusError {
  if (error instanceof ConsensusError && error.code === "StorageFailure") {
    return error;
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ConsensusError("StorageFailure", `${call} failed: ${message}`);
}

function asApplyFailure(error: unknown): ConsensusError {
  const message = error instanceof Error ? error.message : String(error);
  return new ConsensusError("InvariantViolated", `state machine failed: ${message}`);
}
