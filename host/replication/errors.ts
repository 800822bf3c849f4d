/**
 * Typed errors of the replicated console layer, with stable codes (mapped to gRPC statuses in
 * host/server/status.ts).
 *
 * - `BadArgument`: a request is malformed (empty key, bad UTF-8, unknown command); nothing was
 *   proposed.
 * - `LimitExceeded`: a request or the state would exceed a limit in `limits.ts`. Raised before
 *   proposing for request sizes; from apply (the same on every replica) for state limits.
 * - `BadCommand`: a committed command or result could not be decoded: a bug or a version
 *   mismatch, never silently ignored.
 * - `BadSnapshot`: a snapshot could not be decoded; the replica must not use it.
 * - `NotFound`: the command names an env, build or session the applied state does not hold
 *   (never created, retired, closed or expired).
 * - `InUse`: a build cannot be retired: it is its env's current build or an open session pins it.
 * - `NotAllowed`: the env's allow-list (of build hashes) does not contain the build.
 * - `BadModule`: the module failed the loader's checks (the message says which), or declares
 *   another env id than the command; the same verdict on every replica.
 * - `StaleStep`: a session step named an expected step index that is not the current one; the
 *   error is a {@link StaleStepError} carrying the current index.
 * - `EpisodeOver`: the session's episode has ended; it accepts no more steps.
 */
export type ReplicationErrorCode =
  | "BadArgument"
  | "LimitExceeded"
  | "BadCommand"
  | "BadSnapshot"
  | "NotFound"
  | "InUse"
  | "NotAllowed"
  | "BadModule"
  | "StaleStep"
  | "EpisodeOver";

/** The one error type the replication layer throws. */
export class ReplicationError extends Error {
  override readonly name = "ReplicationError";
  constructor(
    readonly code: ReplicationErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Type guard for {@link ReplicationError}. */
export function isReplicationError(error: unknown): error is ReplicationError {
  return error instanceof ReplicationError;
}

/**
 * A step that expected another step index (optimistic concurrency): someone else stepped the
 * session first. `currentStep` is the index the session is at, so the client can re-read and retry.
 */
export class StaleStepError extends ReplicationError {
  constructor(
    readonly sessionId: string,
    readonly expectedStep: number,
    readonly currentStep: number,
  ) {
    super(
      "StaleStep",
      `session ${sessionId} is at step ${currentStep}, not at the expected step ${expectedStep}`,
    );
  }
}
