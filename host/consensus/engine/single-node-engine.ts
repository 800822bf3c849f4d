import type { Member } from "../core/config.js";
import type { Command, Entry } from "../core/entry.js";
import { ConsensusError, invariant } from "../core/errors.js";
import { ReplicatedStateMachine, type StateMachine } from "../statemachine.js";
import type { ConsensusStorage } from "../storage/storage.js";
import type { ConsensusEngine, ProposalResult, ProposeOptions } from "./engine.js";

/** How a single-node engine is wired. */
export interface SingleNodeEngineOptions {
  readonly nodeId: string;
  readonly storage: ConsensusStorage;
  readonly stateMachine: StateMachine;
  /** Most commands written as one slot. */
  readonly maxBatchCommands?: number;
  /** Most proposals awaiting their outcome at once. */
  readonly maxOutstandingProposals?: number;
  /** A snapshot is taken (and the log compacted) after this many slots. */
  readonly snapshotIntervalSlots?: number;
}

type Settle = (outcome: ProposalResult | ConsensusError) => void;

/** The term a single node reports; it never changes because there is never an election. */
const SINGLE_NODE_TERM = 1;

/**
 * The same {@link ConsensusEngine} interface without a network: a proposal is committed once it
 * is durable in local storage. Proposals made in one event-loop turn share one slot. This is the
 * embedded default and the baseline replicated engines are benchmarked against.
 */
export class SingleNodeEngine implements ConsensusEngine {
  private readonly options: SingleNodeEngineOptions;
  private readonly rsm: ReplicatedStateMachine;
  private running = false;
  private queue: { command: Command; settle: Settle }[] = [];
  private flushScheduled = false;
  private lastIndex = 0;
  private lastSnapshotIndex = 0;
  private anonymousRequestId = 0;
  private waiters: { index: number; resolve: () => void }[] = [];

  constructor(options: SingleNodeEngineOptions) {
    this.options = options;
    this.rsm = new ReplicatedStateMachine(options.stateMachine);
  }

  async start(): Promise<void> {
    invariant(!this.running, "engine already started");
    const persisted = this.options.storage.load();
    if (persisted.snapshot !== undefined) {
      this.rsm.restore(persisted.snapshot.data);
      this.lastSnapshotIndex = persisted.snapshot.index;
    }
    for (const entry of persisted.entries) {
      if (entry.index <= persisted.hardState.commitIndex) {
        this.rsm.applyEntry(entry);
      }
    }
    this.lastIndex = persisted.compactedIndex + persisted.entries.length;
    this.running = true;
  }

  async stop(): Promise<void> {
    this.running = false;
    const queued = this.queue;
    this.queue = [];
    for (const item of queued) {
      item.settle(new ConsensusError("Stopped", "engine stopped"));
    }
  }

  propose(payload: Uint8Array, options: ProposeOptions = {}): Promise<ProposalResult> {
    if (!this.running) {
      return Promise.reject(new ConsensusError("Stopped", "engine is not running"));
    }
    if (this.queue.length >= (this.options.maxOutstandingProposals ?? 100_000)) {
      return Promise.reject(new ConsensusError("Overloaded", "too many outstanding proposals"));
    }
    let clientId = options.clientId;
    let requestId = options.requestId;
    if (clientId === undefined || requestId === undefined) {
      clientId = "";
      this.anonymousRequestId += 1;
      requestId = this.anonymousRequestId;
    }
    const command: Command = { clientId, requestId, payload };
    return new Promise((resolve, reject) => {
      this.queue.push({
        command,
        settle: (outcome) =>
          outcome instanceof ConsensusError ? reject(outcome) : resolve(outcome),
      });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        queueMicrotask(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const maxBatch = this.options.maxBatchCommands ?? 1024;
    while (this.running && this.queue.length > 0) {
      const batch = this.queue.slice(0, maxBatch);
      this.queue = this.queue.slice(batch.length);
      const entry: Entry = {
        index: this.lastIndex + 1,
        ballot: SINGLE_NODE_TERM,
        value: { kind: "batch", commands: batch.map((item) => item.command) },
      };
      this.options.storage.persist({
        hardState: { promisedBallot: SINGLE_NODE_TERM, commitIndex: entry.index },
        snapshot: undefined,
        entries: [entry],
      });
      this.lastIndex = entry.index;
      const outcomes = this.rsm.applyEntry(entry);
      invariant(outcomes.length === batch.length, "one outcome per command");
      for (let i = 0; i < batch.length; i += 1) {
        const outcome = outcomes[i];
        const item = batch[i];
        invariant(outcome !== undefined && item !== undefined, "outcome missing");
        if (outcome.error !== undefined || outcome.result === undefined) {
          item.settle(new ConsensusError("StaleRequest", "a newer request was applied"));
        } else {
          item.settle({
            index: entry.index,
            term: SINGLE_NODE_TERM,
            leaderId: this.options.nodeId,
            result: outcome.result,
          });
        }
      }
      this.maybeSnapshot();
      this.releaseWaiters();
    }
  }

  /** Keeps the log bounded: snapshot the state machine and drop the slots it covers. */
  private maybeSnapshot(): void {
    const applied = this.rsm.appliedIndex();
    if (applied - this.lastSnapshotIndex < (this.options.snapshotIntervalSlots ?? 10_000)) {
      return;
    }
    const snapshot = { index: applied, ballot: SINGLE_NODE_TERM, data: this.rsm.snapshot() };
    this.options.storage.compact(snapshot, applied);
    this.lastSnapshotIndex = applied;
  }

  waitForCommit(index: number): Promise<void> {
    if (this.rsm.appliedIndex() >= index) {
      return Promise.resolve();
    }
    if (this.waiters.length >= (this.options.maxOutstandingProposals ?? 100_000)) {
      return Promise.reject(new ConsensusError("Overloaded", "too many commit waiters"));
    }
    return new Promise((resolve) => this.waiters.push({ index, resolve }));
  }

  private releaseWaiters(): void {
    const applied = this.rsm.appliedIndex();
    const remaining = this.waiters.filter((waiter) => waiter.index > applied);
    for (const waiter of this.waiters) {
      if (waiter.index <= applied) {
        waiter.resolve();
      }
    }
    this.waiters = remaining;
  }

  isLeader(): boolean {
    return this.running;
  }

  currentTerm(): number {
    return SINGLE_NODE_TERM;
  }

  nodeId(): string {
    return this.options.nodeId;
  }

  leaderId(): string | undefined {
    return this.running ? this.options.nodeId : undefined;
  }

  lastAppliedIndex(): number {
    return this.rsm.appliedIndex();
  }

  async addMember(_member: Member): Promise<void> {
    throw new ConsensusError("NotImplemented", "membership changes are not implemented");
  }

  async removeMember(_nodeId: string): Promise<void> {
    throw new ConsensusError("NotImplemented", "membership changes are not implemented");
  }
}
