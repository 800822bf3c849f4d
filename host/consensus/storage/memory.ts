import type { Entry, HardState, Snapshot } from "../core/entry.js";
import { ConsensusError } from "../core/errors.js";
import type { ConsensusStorage, PersistBatch, PersistedState } from "./storage.js";

/**
 * The acceptor state of one replica held in memory, with synchronous calls: the shared
 * bookkeeping behind {@link MemoryStorage}, the simulator's faulty disk and scripted tests that
 * drive a core by hand. Batches are validated before anything changes, so a rejected batch leaves
 * the state untouched (atomicity).
 */
export class MemoryStore {
  private hardState: HardState = { promisedBallot: 0, commitIndex: 0 };
  private snapshot: Snapshot | undefined;
  private compactedIndex = 0;
  private entries: Entry[] = [];

  /** A copy of this store (entries are immutable values, so they are shared). */
  clone(): MemoryStore {
    const copy = new MemoryStore();
    copy.hardState = this.hardState;
    copy.snapshot = this.snapshot;
    copy.compactedIndex = this.compactedIndex;
    copy.entries = [...this.entries];
    return copy;
  }

  load(): PersistedState {
    return {
      hardState: this.hardState,
      snapshot: this.snapshot,
      compactedIndex: this.compactedIndex,
      entries: [...this.entries],
    };
  }

  /** Throws `StorageFailure` (changing nothing) for a batch that would leave a hole. */
  persist(batch: PersistBatch): void {
    let compacted = this.compactedIndex;
    let last = this.lastIndex();
    if (batch.snapshot !== undefined && batch.snapshot.index > compacted) {
      compacted = batch.snapshot.index;
      last = Math.max(last, compacted);
    }
    for (const entry of batch.entries) {
      if (entry.index <= compacted || entry.index > last + 1) {
        throw new ConsensusError(
          "StorageFailure",
          `entry ${entry.index} outside writable range ${compacted + 1}..${last + 1}`,
        );
      }
      last = Math.max(last, entry.index);
    }
    if (batch.snapshot !== undefined) {
      this.keepSnapshot(batch.snapshot);
      this.dropThrough(batch.snapshot.index);
    }
    for (const entry of batch.entries) {
      this.entries[entry.index - this.compactedIndex - 1] = entry;
    }
    if (batch.hardState !== undefined) {
      this.hardState = batch.hardState;
    }
  }

  /** Throws `StorageFailure` (changing nothing) when compacting beyond the snapshot. */
  compact(snapshot: Snapshot, compactThroughIndex: number): void {
    if (compactThroughIndex > snapshot.index) {
      throw new ConsensusError("StorageFailure", "cannot compact beyond the snapshot");
    }
    this.keepSnapshot(snapshot);
    this.dropThrough(compactThroughIndex);
  }

  private keepSnapshot(snapshot: Snapshot): void {
    if (this.snapshot === undefined || snapshot.index > this.snapshot.index) {
      this.snapshot = snapshot;
    }
  }

  private dropThrough(index: number): void {
    if (index <= this.compactedIndex) {
      return;
    }
    const drop = index - this.compactedIndex;
    this.entries = drop >= this.entries.length ? [] : this.entries.slice(drop);
    this.compactedIndex = index;
  }

  private lastIndex(): number {
    return this.compactedIndex + this.entries.length;
  }
}

/**
 * Storage kept in memory. It is "durable" for as long as the object lives: a replica restarted
 * on the same object sees exactly what was persisted. Every call completes in a microtask, so the
 * driver's asynchronous paths are exercised even without a disk.
 */
export class MemoryStorage implements ConsensusStorage {
  private readonly store = new MemoryStore();
  private closed = false;

  async load(): Promise<PersistedState> {
    this.checkOpen();
    return this.store.load();
  }

  async persist(batch: PersistBatch): Promise<void> {
    this.checkOpen();
    this.store.persist(batch);
  }

  async compact(snapshot: Snapshot, compactThroughIndex: number): Promise<void> {
    this.checkOpen();
    this.store.compact(snapshot, compactThroughIndex);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** What `load()` would return, synchronously (for tests that inspect the state). */
  peek(): PersistedState {
    return this.store.load();
  }

  private checkOpen(): void {
    if (this.closed) {
      throw new ConsensusError("StorageFailure", "storage is closed");
    }
  }
}
