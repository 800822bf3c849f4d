import type { Member } from "../core/config.js";

/** What a committed proposal resolves with. */
export interface ProposalResult {
  /** The slot the proposal was committed in. */
  readonly index: number;
  /** The ballot (term) under which the slot was chosen. */
  readonly term: number;
  /** The node id of the leader that committed it. */
  readonly leaderId: string;
  /** The state machine's result (the first application's result for a retried request). */
  readonly result: Uint8Array;
}

/** Identity and deadline of one proposal. */
export interface ProposeOptions {
  /** With `requestId`, identifies the request for deduplication of retries. */
  readonly clientId?: string;
  /** Must grow with each new request of the client; a retry reuses it. */
  readonly requestId?: number;
  /** Rejects with `Timeout` if not committed within this many ticks. */
  readonly timeoutTicks?: number;
}

/**
 * A replicated log driving a state machine. `propose` resolves only after the proposal is
 * committed and applied on this replica. It rejects with a `ConsensusError`:
 * `NotLeader` (definitely not proposed; retry at `leaderHint`), `Indeterminate` or `Timeout`
 * (fate unknown; retry with the same client and request id to learn it exactly once),
 * `Overloaded`, `StaleRequest` or `Stopped`.
 */
export interface ConsensusEngine {
  /** Loads persisted state, replays committed entries and starts ticking. */
  start(): Promise<void>;
  /** Stops ticking and rejects every outstanding proposal with `Stopped`. */
  stop(): Promise<void>;
  /** Proposes `payload`; see the interface comment for outcomes. */
  propose(payload: Uint8Array, options?: ProposeOptions): Promise<ProposalResult>;
  /** Resolves once slot `index` is applied on this replica. */
  waitForCommit(index: number): Promise<void>;
  /** Whether this replica currently leads. */
  isLeader(): boolean;
  /** The highest ballot this replica has promised. */
  currentTerm(): number;
  /** This replica's node id. */
  nodeId(): string;
  /** The node id of the leader this replica follows, if known. */
  leaderId(): string | undefined;
  /** The last slot applied to the state machine on this replica. */
  lastAppliedIndex(): number;
  /** Not implemented yet: rejects with `NotImplemented`. */
  addMember(member: Member): Promise<void>;
  /** Not implemented yet: rejects with `NotImplemented`. */
  removeMember(nodeId: string): Promise<void>;
}
