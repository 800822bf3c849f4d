import type { Entry, HardState, Snapshot } from "../core/entry.js";
import { ConsensusError } from "../core/errors.js";
import type { ConsensusStorage, PersistBatch, PersistedState } from "./storage.js";

/**
 * Storage kept in memory. It is "durable" for as long as the object lives, which is what the
 * simulator needs: a simulated crash discards the replica but keeps its storage, so a restart sees
 * exactly what was persisted. Batches are validated before anything changes, so a rejected batch
 * leaves the state untouched (atomicity).
 */
export class MemoryStorage implements ConsensusStorage {
  private hardState: HardState = { promisedBallot: 0, commitIndex: 0 };
  private snapshot: Snapshot | undefined;
  private compactedIndex = 0;
  private entries: Entry[] = [];

  load(): PersistedState {
    return {
      hardState: this.hardState,
      snapshot: this.snapshot,
      compactedIndex: this.compactedIndex,
      entries: [...this.entries],
    };
  }

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
      this.installSnapshot(batch.snapshot);
    }
    for (const entry of batch.entries) {
      this.entries[entry.index - this.compactedIndex - 1] = entry;
    }
    if (batch.hardState !== undefined) {
      this.hardState = batch.hardState;
    }
  }

  compact(snapshot: Snapshot, compactThroughIndex: number): void {
    if (compactThroughIndex > snapshot.index) {
      throw new ConsensusError("StorageFailure", "cannot compact beyond the snapshot");
    }
    if (this.snapshot === undefined || snapshot.index > this.snapshot.index) {
      this.snapshot = snapshot;
    }
    this.dropThrough(compactThroughIndex);
  }

  private installSnapshot(snapshot: Snapshot): void {
    if (this.snapshot === undefined || snapshot.index > this.snapshot.index) {
      this.snapshot = snapshot;
    }
    this.dropThrough(snapshot.index);
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
