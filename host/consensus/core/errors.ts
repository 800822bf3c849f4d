/**
 * Stable, machine-readable error codes raised by the consensus layer.
 *
 * - `NotLeader`: this replica cannot accept proposals; nothing was proposed, retrying elsewhere
 *   is safe. `leaderHint` names the replica believed to lead, when known.
 * - `Indeterminate`: the proposal may or may not commit (leadership was lost while it was in
 *   flight). Retry with the same client and request id to learn its fate exactly once.
 * - `Timeout`: the proposal did not commit within its deadline; its fate is unknown, as for
 *   `Indeterminate`.
 * - `Overloaded`: a bounded queue is full; nothing was proposed.
 * - `StaleRequest`: the request id is below the client's session window: the client already
 *   holds its answer (see `SessionTable`). Nothing was applied for this attempt.
 * - `SessionExpired`: the client's session expired or was evicted (or never existed); the request
 *   was not applied and the fate of the session's earlier requests can no longer be learned.
 * - `NotImplemented`: the operation exists in the interface but is not built yet.
 * - `Stopped`: the engine is not running.
 * - `InvalidArgument`: a caller passed a value outside the documented limits.
 * - `InvariantViolated`: an internal invariant failed; the replica must stop.
 * - `StorageFailure`: the storage adapter broke its contract or failed.
 */
export type ConsensusErrorCode =
  | "NotLeader"
  | "Indeterminate"
  | "Timeout"
  | "Overloaded"
  | "StaleRequest"
  | "SessionExpired"
  | "NotImplemented"
  | "Stopped"
  | "InvalidArgument"
  | "InvariantViolated"
  | "StorageFailure";

/** The one error type the consensus layer throws or rejects with. */
export class ConsensusError extends Error {
  override readonly name = "ConsensusError";
  readonly code: ConsensusErrorCode;
  /** The node id of the replica believed to lead, for `NotLeader`. */
  readonly leaderHint: string | undefined;

  constructor(code: ConsensusErrorCode, message: string, leaderHint?: string) {
    super(`${code}: ${message}`);
    this.code = code;
    this.leaderHint = leaderHint;
  }
}

/** Throws `InvariantViolated` when `condition` is false; used for cheap internal assertions. */
export function invariant(condition: boolean, message: string): asserts condition {
  if (!condition) {
    throw new ConsensusError("InvariantViolated", message);
  }
}
