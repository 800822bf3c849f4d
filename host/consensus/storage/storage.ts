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

/** One atomic write: the durable part of one or more Readys. */
export interface PersistBatch {
  readonly hardState: HardState | undefined;
  /** Installed snapshot; slots at or below its index are dropped before `entries` are written. */
  readonly snapshot: Snapshot | undefined;
  /** Entries in increasing index order; each replaces its slot or extends the log by one. */
  readonly entries: readonly Entry[];
}

/**
 * Durable storage for one replica's acceptor state. Contract (the shared contract suite
 * `runStorageContract` in `test/unit/consensus/storage.contract.ts` checks every adapter):
 *
 * - Every call is asynchronous and **at most one call is in flight at a time**: the driver awaits
 *   each promise before it makes the next call. Adapters need no internal locking.
 * - `persist` is atomic and durable **when its promise resolves**: after a crash, `load()`
 *   returns either all of a batch or none of it, never anything older than the last batch whose
 *   promise resolved, and never a batch the driver did not write. A batch whose promise had not
 *   resolved when the process died may be present or absent, but whole (a torn write is detected
 *   and dropped at `load()`). One exception, as etcd's `MustSync`: a batch that only raises the
 *   commit index (no entries, no snapshot, the same promised ballot) may resolve before it is
 *   durable; it becomes durable with the next batch, and a crash before that may give `load()`
 *   the previous commit index. A commit index is a fact a quorum holds durably, not a promise of
 *   this replica: a restarted replica relearns it.
 * - The driver sends nothing that promises state (a promise, an accepted slot) before the persist
 *   covering that state has resolved. Group commit is the driver's job: while one
 *   persist is in flight it keeps accepting input, and the next batch carries everything that
 *   accumulated (one batch, so one fsync, for several Readys).
 * - An entry write replaces the slot's previous entry; later slots are kept (no truncation).
 *   Writing a slot above `lastIndex + 1` (a hole) or at or below the compacted index rejects
 *   with `StorageFailure` and changes nothing.
 * - `compact` first makes `snapshot` durable and then may drop entries up to
 *   `compactThroughIndex` (which must not exceed the snapshot's index); a snapshot older than the
 *   stored one is ignored. Durable when its promise resolves.
 * - `load()` must refuse state it cannot vouch for: a record whose checksum does not match
 *   (anywhere but a torn tail) rejects with `StorageFailure` naming where, and never returns a
 *   guess. Only an incomplete last record (a torn write) may be dropped silently.
 * - Every failure rejects with a `ConsensusError` of code `StorageFailure`. A failed `persist` or
 *   `compact` may or may not have reached the disk; the driver then halts the replica (it can no
 *   longer vouch for its promises) and settles every outstanding proposal.
 * - `close()` releases the adapter (files, handles); no call may follow it. The engine does not
 *   own its storage: whoever created the storage closes it, after `engine.stop()` resolved.
 */
export interface ConsensusStorage {
  /** Reads everything persisted so far (see the interface contract). */
  load(): Promise<PersistedState>;
  /** Atomically and durably writes one batch (see the interface contract). */
  persist(batch: PersistBatch): Promise<void>;
  /** Durably stores `snapshot` and drops entries up to `compactThroughIndex`. */
  compact(snapshot: Snapshot, compactThroughIndex: number): Promise<void>;
  /** Releases the adapter's resources; no call may follow. */
  close(): Promise<void>;
}
