import type { ApplyContext } from "../consensus/statemachine.js";

/**
 * The command tags of the console's state parts: the first byte of every replicated command. A
 * tag is never reused or renumbered (the log and snapshots outlive any version of the code).
 * The manifest and sessions of the replicated console take the next tags.
 */
export const PART_TAGS = {
  kv: 1,
  sessions: 3,
} as const;

export type PartTag = (typeof PART_TAGS)[keyof typeof PART_TAGS];

/**
 * One part of the console's replicated state. Contract:
 *
 * - `apply` is deterministic: the same bodies in the same order, from the same state, give the same
 *   results and state on every replica. It reads no clock, no randomness, no environment.
 * - A command the part refuses for a reason every replica sees alike (a malformed body, a state
 *   limit) throws a `ReplicationError`; the root turns it into a rejected result, identically
 *   everywhere. Any other exception is a bug and halts the replica.
 * - `snapshot` serialises the whole part canonically (equal states give equal bytes, so snapshots
 *   can be hashed and compared across replicas); `restore` replaces the state with one; `reset`
 *   empties it (a snapshot from before the part existed does not mention it).
 */
export interface StatePart {
  readonly tag: PartTag;
  /** For messages and metrics. */
  readonly name: string;
  apply(body: Uint8Array, context: ApplyContext): Uint8Array;
  snapshot(): Uint8Array;
  restore(bytes: Uint8Array): void;
  reset(): void;
}
