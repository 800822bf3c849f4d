import type { Message } from "../core/messages.js";
import type { SessionOptions } from "../sessions.js";
import type { StateMachine } from "../statemachine.js";
import type { ConsensusStorage } from "../storage/storage.js";
import type { Transport } from "../transport/transport.js";
import { type EngineHooks, ReplicaDriver } from "./driver.js";
import { seededRng } from "./rng.js";
import { IntervalTickSource, type TickSource } from "./tick-source.js";

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
  /** Client-session limits of the replicated state machine. */
  readonly sessions?: Partial<SessionOptions>;
  /** Drives proposal deadlines; defaults to a 10 ms wall-clock tick. */
  readonly tickSource?: TickSource;
  /** Default deadline of a proposal, in ticks. */
  readonly proposalTimeoutTicks?: number;
  readonly hooks?: EngineHooks;
  /** Schedules a Ready cycle (default `queueMicrotask`). */
  readonly schedule?: (run: () => void) => void;
}

/** The tick of the default tick source; only proposal deadlines depend on it. */
const SINGLE_NODE_TICK_MS = 10;

/** A lone replica has no peers: nothing is ever sent or received. */
class NoPeers implements Transport {
  send(_message: Message): void {}
  onMessage(_handler: (message: Message) => void): void {}
  close(): void {}
}

/**
 * The same {@link ConsensusEngine} without a network: the shared driver over a one-member
 * cluster, so a proposal is committed once it is durable in local storage. Proposals made in one
 * event-loop turn share one slot, and proposals made while a write is in flight share the next
 * (group commit). This is the embedded default and the baseline replicated engines are
 * benchmarked against.
 */
export class SingleNodeEngine extends ReplicaDriver {
  constructor(options: SingleNodeEngineOptions) {
    super({
      nodeId: options.nodeId,
      config: { members: [{ nodeId: options.nodeId, replicaId: 1 }] },
      storage: options.storage,
      transport: new NoPeers(),
      stateMachine: options.stateMachine,
      // The election of a lone replica is decided before any input; the seed only varies the
      // (irrelevant) election timeout.
      rng: seededRng(1),
      tickSource: options.tickSource ?? new IntervalTickSource(SINGLE_NODE_TICK_MS),
      coreOptions:
        options.maxBatchCommands === undefined
          ? undefined
          : { maxBatchCommands: options.maxBatchCommands },
      sessions: options.sessions,
      snapshotIntervalSlots: options.snapshotIntervalSlots,
      retainSlots: 0,
      proposalTimeoutTicks: options.proposalTimeoutTicks,
      maxOutstandingProposals: options.maxOutstandingProposals,
      hooks: options.hooks,
      schedule: options.schedule,
    });
  }
}
