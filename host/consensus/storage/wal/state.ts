import type { Entry, HardState } from "../../core/entry.js";
import { RecordType } from "./format.js";
import type { SnapshotMeta, WalRecord } from "./records.js";

/**
 * The acceptor state the records describe, with the same semantics as `MemoryStorage`: replay
 * applies every record to one of these, and the live adapter keeps one (without entries) to
 * validate batches and write checkpoints. `entries` holds slot -> entry during replay only;
 * slots whose writes were in segments deleted by compaction are simply absent (they are all
 * compacted by the end of a valid log, which recovery checks).
 */
export class WalState {
  hardState: HardState = { promisedBallot: 0, commitIndex: 0 };
  snapshot: SnapshotMeta | undefined;
  compactedIndex = 0;
  lastIndex = 0;

  constructor(readonly entries: Map<number, Entry> | undefined) {}

  /** Why `entries` cannot be written after installing `snapshot`, or undefined if they can. */
  rangeError(snapshot: SnapshotMeta | undefined, entries: readonly Entry[]): string | undefined {
    let compacted = this.compactedIndex;
    let last = this.lastIndex;
    if (snapshot !== undefined && snapshot.index > compacted) {
      compacted = snapshot.index;
      last = Math.max(last, compacted);
    }
    for (const entry of entries) {
      if (entry.index <= compacted || entry.index > last + 1) {
        return `entry ${entry.index} outside writable range ${compacted + 1}..${last + 1}`;
      }
      last = Math.max(last, entry.index);
    }
    return undefined;
  }

  /** True if `snapshot` would replace the stored one (older or equal snapshots are ignored). */
  isNewerSnapshot(snapshot: SnapshotMeta): boolean {
    return this.snapshot === undefined || snapshot.index > this.snapshot.index;
  }

  /** The checkpoint that starts a new segment: everything but the entries. */
  checkpoint(): WalRecord {
    return {
      type: RecordType.Checkpoint,
      hardState: this.hardState,
      compactedIndex: this.compactedIndex,
      lastIndex: this.lastIndex,
      snapshot: this.snapshot,
    };
  }

  /** Whether `record` (a checkpoint) describes exactly this state. */
  matchesCheckpoint(record: WalRecord & { type: typeof RecordType.Checkpoint }): boolean {
    return (
      record.hardState.promisedBallot === this.hardState.promisedBallot &&
      record.hardState.commitIndex === this.hardState.commitIndex &&
      record.compactedIndex === this.compactedIndex &&
      record.lastIndex === this.lastIndex &&
      record.snapshot?.index === this.snapshot?.index &&
      record.snapshot?.ballot === this.snapshot?.ballot
    );
  }

  /**
   * Applies one record. Returns an error message if an entry record lands outside the writable
   * range (the log contradicts itself); nothing else can fail.
   */
  apply(record: WalRecord): string | undefined {
    switch (record.type) {
      case RecordType.Checkpoint:
        this.hardState = record.hardState;
        this.snapshot = record.snapshot;
        this.compactedIndex = record.compactedIndex;
        this.lastIndex = Math.max(record.lastIndex, record.compactedIndex);
        return undefined;
      case RecordType.HardState:
        this.hardState = record.hardState;
        return undefined;
      case RecordType.Entry:
        return this.writeEntry(record.entry);
      case RecordType.Snapshot:
        this.installSnapshot(record.snapshot);
        this.dropThrough(record.snapshot.index);
        return undefined;
      case RecordType.Compaction:
        this.installSnapshot(record.snapshot);
        this.dropThrough(record.throughIndex);
        return undefined;
    }
  }

  private writeEntry(entry: Entry): string | undefined {
    if (entry.index <= this.compactedIndex || entry.index > this.lastIndex + 1) {
      return `entry ${entry.index} outside writable range ${this.compactedIndex + 1}..${this.lastIndex + 1}`;
    }
    this.entries?.set(entry.index, entry);
    this.lastIndex = Math.max(this.lastIndex, entry.index);
    return undefined;
  }

  private installSnapshot(snapshot: SnapshotMeta): void {
    if (this.isNewerSnapshot(snapshot)) {
      this.snapshot = snapshot;
    }
  }

  private dropThrough(index: number): void {
    if (index <= this.compactedIndex) {
      return;
    }
    if (this.entries !== undefined) {
      for (const slot of this.entries.keys()) {
        if (slot <= index) {
          this.entries.delete(slot);
        }
      }
    }
    this.compactedIndex = index;
    this.lastIndex = Math.max(this.lastIndex, index);
  }
}
