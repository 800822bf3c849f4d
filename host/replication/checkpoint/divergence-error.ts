/**
 * This replica's running hash differs from the one the leader put in a checkpoint: it applied the
 * same log and got different results or state (a different build behind the manifest's back, a
 * NaN whose bits differ between machines, a bug). Thrown from apply, so the driver halts the
 * replica ("state machine failed: diverged at slot ..."); it is deliberately not a
 * `ReplicationError`, which would be recorded as a rejection and let the replica carry on.
 */
export class DivergenceError extends Error {
  override readonly name = "DivergenceError";
  readonly code = "Diverged";
  constructor(
    /** The slot the checkpoint compared (the leader's applied index when it proposed it). */
    readonly slot: number,
    /** This replica's hash at `slot`, hex. */
    readonly localHash: string,
    /** The leader's hash at `slot`, hex. */
    readonly leaderHash: string,
    /** The slot of the checkpoint command itself. */
    readonly checkpointIndex: number,
  ) {
    super(
      `diverged at slot ${slot}: hash ${localHash.slice(0, 16)} != leader's ${leaderHash.slice(0, 16)} (checkpoint at slot ${checkpointIndex})`,
    );
  }
}
