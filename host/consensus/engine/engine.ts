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

/**
 * Identity and deadline of one proposal. Without a client id the proposal is anonymous: it is
 * not deduplicated (a retry may apply twice) and leaves no session behind.
 */
export interface ProposeOptions {
  /**
   * With `requestId`, names the request in the client's session (see `SessionTable`): a
   * non-empty id not starting with NUL, one per client incarnation.
   */
  readonly clientId?: string;
  /**
   * A positive integer, new for each request of the client; a retry reuses it. A client may have
   * up to `requestWindow` requests in flight: it must not send id `r` before it holds the answer
   * of every id at or below `r - requestWindow`. A new client starts at ids `1..requestWindow`.
   */
  readonly requestId?: number;
  /** Rejects with `Timeout` if not committed within this many ticks. */
  readonly timeoutTicks?: number;
}

/**
 * A replicated log driving a state machine. `propose` resolves only after the proposal is
 * committed and applied on this replica. It rejects with a `ConsensusError` (the outcome table in
 * docs/consensus.md says what each guarantees):
 *
 * - `NotLeader`, `Stopped`, `StorageFailure`: no copy of the request sat in an open slot of this
 *   replica's log, so it is not committed through this attempt (retry at `leaderHint` / another
 *   replica);
 * - `Indeterminate`, `Timeout`: fate unknown; retry with the same client and request id to learn
 *   it exactly once;
 * - `SessionExpired`: not applied, and the client's session is gone (start a new client id);
 * - `StaleRequest`: not applied; the id is below the session window (the client holds its answer);
 * - `Overloaded`, `InvalidArgument`: nothing was proposed.
 *
 * A client that had an earlier attempt of the same request end unknown keeps it unknown after a
 * later `NotLeader` or `Stopped`: those speak for one attempt only.
 */
export interface ConsensusEngine {
  /**
   * Loads persisted state, starts ticking and resolves once the committed entries are applied
   * again. Rejects with `StorageFailure` when the storage cannot be loaded (e.g. a corrupted
   * record); the engine then stays halted.
   */
  start(): Promise<void>;
  /**
   * Stops ticking and sending; settles every outstanding proposal (`Stopped` if it was never
   * placed in a slot, else `Indeterminate`) and rejects every `waitForCommit`. Resolves once the
   * storage call in flight has settled; the caller then owns closing the storage.
   */
  stop(): Promise<void>;
  /** Proposes `payload`; see the interface comment for outcomes. */
  propose(payload: Uint8Array, options?: ProposeOptions): Promise<ProposalResult>;
  /**
   * Resolves once slot `index` is applied on this replica (its apply completed, also an
   * asynchronous one); rejects if the engine stops first.
   */
  waitForCommit(index: number): Promise<void>;
  /** Whether this replica currently leads. */
  isLeader(): boolean;
  /** The highest ballot this replica has promised. */
  currentTerm(): number;
  /** This replica's node id. */
  nodeId(): string;
  /** The node id of the leader this replica follows, if known. */
  leaderId(): string | undefined;
  /** The last slot whose apply to the state machine completed on this replica. */
  lastAppliedIndex(): number;
  /** Not implemented yet: rejects with `NotImplemented`. */
  addMember(member: Member): Promise<void>;
  /** Not implemented yet: rejects with `NotImplemented`. */
  removeMember(nodeId: string): Promise<void>;
}
