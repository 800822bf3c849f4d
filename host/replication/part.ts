import type { ApplyContext } from "../consensus/statemachine.js";
import type { ReplicationError } from "./errors.js";

/**
 * The command tags of the console's state parts: the first byte of every replicated command. A
 * tag is never reused or renumbered (the log and snapshots outlive any version of the code).
 */
export const PART_TAGS = {
  kv: 1,
  manifest: 2,
  sessions: 3,
  checkpoint: 4,
} as const;

export type PartTag = (typeof PART_TAGS)[keyof typeof PART_TAGS];

/**
 * One part of the console's replicated state. Contract:
 *
 * - `apply` is deterministic: the same bodies in the same order, from the same state, give the same
 *   results and state on every replica. It reads no clock, no randomness, no environment.
 * - `apply` may return a promise (a part that runs guest code, or compiles a module). The root
 *   awaits it before the next command; nothing else touches the part meanwhile. A part whose
 *   apply is synchronous stays synchronous end to end (the root only goes async when a part does).
 * - A command the part refuses for a reason every replica sees alike (a malformed body, a state
 *   limit, a guest trap) throws (or rejects with) a `ReplicationError`; the root turns it into a
 *   rejected result, identically everywhere. Any other exception (a crashed worker, a wall-clock
 *   timeout, a bug) is a fault of this replica: it propagates and the driver halts the replica.
 * - `snapshot` serialises the whole part canonically (equal states give equal bytes, so snapshots
 *   can be hashed and compared across replicas); `restore` replaces the state with one; `reset`
 *   empties it (a snapshot from before the part existed does not mention it).
 */
export interface StatePart {
  readonly tag: PartTag;
  /** For messages and metrics. */
  readonly name: string;
  apply(body: Uint8Array, context: ApplyContext): Uint8Array | Promise<Uint8Array>;
  /**
   * Optional: applies consecutive commands of this part from one slot, in order, with exactly the
   * results and state of calling `apply` on each (it may overlap independent work, e.g. guest
   * calls of different sessions). One entry per command: its result body, or the
   * `ReplicationError` that `apply` would have thrown. Any other error rejects the run (halt).
   */
  applyRun?(commands: readonly PartCommand[]): Promise<(Uint8Array | ReplicationError)[]>;
  snapshot(): Uint8Array;
  restore(bytes: Uint8Array): void;
  reset(): void;
  /**
   * Optional: node-local work a `restore` or `reset` started (re-registering the manifest's builds
   * in this node's registry) and that must finish before the next apply; undefined when there is
   * none. The root awaits it before applying the next command; a rejection halts the replica.
   */
  settle?(): Promise<void> | undefined;
  /**
   * Optional: sees every command the root applied (to any part), with its outcome envelope, in
   * log order, after it was applied (the checkpoint part's running hash). Must not throw.
   */
  observeApplied?(command: Uint8Array, outcome: Uint8Array, context: ApplyContext): void;
}

/** One command handed to `StatePart.applyRun`: its body (without the tag) and where it sits. */
export interface PartCommand {
  readonly body: Uint8Array;
  readonly context: ApplyContext;
}
