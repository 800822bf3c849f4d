import type { Entry, HardState, Snapshot } from "../core/entry.js";

/** Everything a replica persisted, as `load()` returns it after a restart. */
export interface PersistedState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | undefined;
  /** Slots at or below this index were dropped by compaction. */
  readonly compactedIndex: number;
  /** Entries from `compactedIndex + 1` to the last persisted slot, without holes. */
  readonly entries: readonly Entry[];
}

/** One atomic write: the durable part of a Ready. */
export interface PersistBatch {
  readonly hardState: HardState | undefined;
  /** Installed snapshot; slots at or below its index are dropped before `entries` are written. */
  readonly snapshot: Snapshot | undefined;
  /** Entries in increasing index order; each replaces its slot or extends the log by one. */
  readonly entries: readonly Entry[];
}

/**
 * Durable storage for one replica's acceptor state. Contract (the shared contract tests in
 * `test/unit/consensus/storage.contract.ts` check every adapter against it):
 *
 * - Calls are synchronous and happen one at a time from the driver.
 * - `persist` is atomic and durable on return: after a crash, `load()` returns either all of a
 *   batch or none of it, and never anything older than the last batch that returned.
 * - An entry write replaces the slot's previous entry; later slots are kept (no truncation).
 *   Writing a slot above `lastIndex + 1` (a hole) or at or below the compacted index throws a
 *   `ConsensusError` with code `StorageFailure` and changes nothing.
 * - `compact` first makes `snapshot` durable and then may drop entries up to
 *   `compactThroughIndex` (which must not exceed the snapshot's index); a snapshot older than the
 *   stored one is ignored.
 * - Any I/O failure throws `StorageFailure`; the driver then stops the replica, because it can no
 *   longer promise what it has persisted.
 */
export interface ConsensusStorage {
  /** Reads everything persisted so far. */
  load(): PersistedState;
  /** Atomically and durably writes one batch (see the interface contract). */
  persist(batch: PersistBatch): void;
  /** Durably stores `snapshot` and drops entries up to `compactThroughIndex`. */
  compact(snapshot: Snapshot, compactThroughIndex: number): void;
}
