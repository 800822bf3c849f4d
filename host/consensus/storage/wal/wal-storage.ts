import { join } from "node:path";
import type { Entry, HardState, Snapshot } from "../../core/entry.js";
import { ConsensusError } from "../../core/errors.js";
import type { ConsensusStorage, PersistBatch, PersistedState } from "../storage.js";
import { RecordType, segmentName, snapshotName } from "./format.js";
import { NodeWalFs, type WalFile, type WalFs, type WalLock } from "./fs.js";
import { type WalLimits, type WalObserver, type WalOptions, walLimits } from "./options.js";
import { encodeBatch, RecordEncodeError, type SnapshotMeta, type WalRecord } from "./records.js";
import {
  createSegment,
  type Recovered,
  recover,
  type SegmentInfo,
  type WalRecovery,
  writeFileAtomically,
} from "./recovery.js";
import { encodeSnapshotFile } from "./snapshot-file.js";
import { WalState } from "./state.js";

/** Where appends go: the open last segment. */
interface Tail {
  readonly file: WalFile;
  readonly segment: SegmentInfo;
  sizeBytes: number;
  /** The last batch was written without an fdatasync (it only raised the commit index). */
  unsynced: boolean;
}

/**
 * A `ConsensusStorage` on a write-ahead log of segment files (format and recovery rules in
 * docs/consensus.md, "Write-ahead log").
 *
 * - `persist` encodes the batch as records (the last one marked as the batch's end), appends them
 *   with one write and one fdatasync, and resolves only after that; a snapshot in the batch goes
 *   to its own file first (temporary file, fsync, rename, directory fsync). A batch that only
 *   raises the commit index is written without the fdatasync, as etcd's `MustSync` does (the
 *   storage contract allows it: a commit index is a fact a quorum holds, not a promise); the
 *   next batch syncs it, so at most one unsynced batch ever sits at the tail, as a batch between
 *   its write and its fdatasync always could.
 * - `load` replays the segments, truncating a torn tail; anything else damaged rejects with
 *   {@link WalCorruptionError} naming the file and byte offset.
 * - A batch that breaks the contract (a hole, a compacted slot, a value out of range or over a
 *   limit) rejects with `StorageFailure` and writes nothing. An I/O error rejects with
 *   `StorageFailure` and halts the adapter: every later call rejects too, because after a failed
 *   write or fsync it cannot know what is on disk (the page cache may have dropped the data).
 *   A new instance on the same directory recovers what was synced.
 *
 * At most one call may be in flight; a second concurrent call rejects (the driver awaits each).
 */
export class WalStorage implements ConsensusStorage {
  private readonly fs: WalFs;
  private readonly dir: string;
  private readonly limits: WalLimits;
  private readonly observer: WalObserver | undefined;
  private state = new WalState(undefined);
  private segments: SegmentInfo[] = [];
  private tail: Tail | undefined;
  private lock: WalLock | undefined;
  private busy = false;
  private failure: ConsensusError | undefined;
  private closed = false;
  private recovery: WalRecovery | undefined;

  constructor(options: WalOptions) {
    this.fs = options.fs ?? new NodeWalFs();
    this.dir = options.dir;
    this.limits = walLimits(options);
    this.observer = options.observer;
  }

  /** What the last recovery found and repaired (undefined before the first call). */
  get lastRecovery(): WalRecovery | undefined {
    return this.recovery;
  }

  /** True after an I/O error: the adapter refuses every call from then on. */
  get halted(): boolean {
    return this.failure !== undefined;
  }

  load(): Promise<PersistedState> {
    return this.exclusive(async () => {
      const recovered = await this.open();
      return {
        hardState: recovered.state.hardState,
        snapshot: recovered.snapshot,
        compactedIndex: recovered.state.compactedIndex,
        entries: recovered.entries,
      };
    });
  }

  persist(batch: PersistBatch): Promise<void> {
    return this.exclusive(async () => {
      await this.ensureLoaded();
      const meta = batch.snapshot === undefined ? undefined : snapshotMeta(batch.snapshot);
      const rangeError = this.state.rangeError(meta, batch.entries);
      if (rangeError !== undefined) {
        throw new ConsensusError("StorageFailure", rangeError);
      }
      const records = batchRecords(meta, batch.entries, batch.hardState);
      if (records.length === 0) {
        return;
      }
      const newSnapshot =
        batch.snapshot !== undefined && this.state.isNewerSnapshot(batch.snapshot)
          ? batch.snapshot
          : undefined;
      const commitOnly =
        batch.entries.length === 0 &&
        batch.snapshot === undefined &&
        batch.hardState?.promisedBallot === this.state.hardState.promisedBallot;
      await this.append(records, newSnapshot, !commitOnly);
    });
  }

  compact(snapshot: Snapshot, compactThroughIndex: number): Promise<void> {
    return this.exclusive(async () => {
      await this.ensureLoaded();
      if (compactThroughIndex > snapshot.index) {
        throw new ConsensusError(
          "StorageFailure",
          `cannot compact through ${compactThroughIndex}, beyond the snapshot at ${snapshot.index}`,
        );
      }
      const newSnapshot = this.state.isNewerSnapshot(snapshot) ? snapshot : undefined;
      if (newSnapshot === undefined && compactThroughIndex <= this.state.compactedIndex) {
        return;
      }
      const record: WalRecord = {
        type: RecordType.Compaction,
        snapshot: snapshotMeta(snapshot),
        throughIndex: compactThroughIndex,
      };
      await this.append([record], newSnapshot, true);
    });
  }

  /**
   * Closes the open segment and releases the directory lock. Allowed after a halt and more than
   * once; every other call rejects afterwards. A new instance reopens the directory.
   */
  async close(): Promise<void> {
    if (this.busy) {
      throw new ConsensusError("StorageFailure", "WAL closed while a call is in flight");
    }
    this.closed = true;
    const tail = this.tail;
    if (tail?.unsynced === true && this.failure === undefined) {
      await this.io("syncing the last batch", () => tail.file.datasync()).catch(() => undefined);
    }
    await this.closeTail();
    const lock = this.lock;
    this.lock = undefined;
    await lock?.release().catch(() => undefined);
  }

  /**
   * Makes `records` durable as one batch: the snapshot file first (if the batch installs a newer
   * snapshot), a new segment if the current one is full, then one write and one fdatasync.
   * Afterwards, snapshot files and segments the batch made obsolete are deleted. With `sync`
   * false (a commit-index-only batch) the fdatasync is left to the next batch, unless the tail
   * already holds an unsynced batch: then this one syncs both.
   */
  private async append(
    records: readonly WalRecord[],
    newSnapshot: Snapshot | undefined,
    sync: boolean,
  ): Promise<void> {
    const bytes = this.encode(records);
    if (newSnapshot !== undefined && newSnapshot.data.byteLength > this.limits.maxSnapshotBytes) {
      throw new ConsensusError(
        "StorageFailure",
        `snapshot of ${newSnapshot.data.byteLength} bytes exceeds the limit of ${this.limits.maxSnapshotBytes}`,
      );
    }
    const previousSnapshot = this.state.snapshot;
    if (newSnapshot !== undefined) {
      const name = snapshotName(newSnapshot.index);
      await this.io(`writing ${name}`, () =>
        writeFileAtomically(this.fs, this.dir, name, encodeSnapshotFile(newSnapshot)),
      );
    }
    let tail = this.requireTail();
    if (tail.segment.batches > 0 && tail.sizeBytes + bytes.length > this.limits.segmentBytes) {
      tail = await this.cut();
    }
    const file = segmentName(tail.segment.sequence);
    const startMs = performance.now();
    const datasync = sync || tail.unsynced;
    await this.io(`appending to ${file}`, async () => {
      await tail.file.write(bytes, tail.sizeBytes);
      if (datasync) await tail.file.datasync();
    });
    tail.unsynced = !datasync;
    if (datasync) this.observer?.appended(bytes.length, performance.now() - startMs);
    tail.sizeBytes += bytes.length;
    tail.segment.batches += 1;
    for (const record of records) {
      this.state.apply(record);
      if (record.type === RecordType.Entry) {
        tail.segment.maxEntryIndex = Math.max(tail.segment.maxEntryIndex, record.entry.index);
      }
    }
    if (previousSnapshot !== undefined && this.state.snapshot?.index !== previousSnapshot.index) {
      const name = snapshotName(previousSnapshot.index);
      await this.io(`deleting ${name}`, () => this.fs.unlink(join(this.dir, name)));
    }
    await this.pruneSegments();
  }

  private encode(records: readonly WalRecord[]): Uint8Array {
    let bytes: Uint8Array;
    try {
      bytes = encodeBatch(records, this.limits.maxRecordBytes);
    } catch (error) {
      if (error instanceof RecordEncodeError) {
        throw new ConsensusError("StorageFailure", `cannot encode batch: ${error.message}`);
      }
      throw error;
    }
    if (bytes.length > this.limits.maxBatchBytes) {
      throw new ConsensusError(
        "StorageFailure",
        `batch of ${bytes.length} bytes exceeds the limit of ${this.limits.maxBatchBytes}`,
      );
    }
    return bytes;
  }

  /** Starts the next segment with a checkpoint of the current state and makes it the tail. */
  private async cut(): Promise<Tail> {
    const old = this.requireTail();
    const sequence = old.segment.sequence + 1;
    if (old.unsynced) {
      // Only the last segment may end in a torn batch: sync the old tail before it stops being it.
      await this.io(`syncing ${segmentName(old.segment.sequence)}`, () => old.file.datasync());
    }
    await this.closeTail();
    const sizeBytes = await this.io(`creating ${segmentName(sequence)}`, () =>
      createSegment(this.fs, this.dir, sequence, this.state, this.limits),
    );
    this.segments.push({ sequence, maxEntryIndex: 0, batches: 0 });
    return this.openTail(sizeBytes);
  }

  /**
   * Deletes the oldest segments while every entry they hold is compacted. The last segment always
   * stays, and every segment starts with a checkpoint, so the first remaining one restores all
   * state the deleted ones held. One directory fsync per deletion keeps the remaining segments
   * contiguous whatever a crash makes durable.
   */
  private async pruneSegments(): Promise<void> {
    while (this.segments.length > 1) {
      const oldest = this.segments[0] as SegmentInfo;
      if (oldest.maxEntryIndex > this.state.compactedIndex) {
        return;
      }
      const name = segmentName(oldest.sequence);
      await this.io(`deleting ${name}`, async () => {
        await this.fs.unlink(join(this.dir, name));
        await this.fs.syncDir(this.dir);
      });
      this.segments.shift();
    }
  }

  private async openTail(sizeBytes: number): Promise<Tail> {
    const segment = this.segments[this.segments.length - 1] as SegmentInfo;
    const name = segmentName(segment.sequence);
    const file = await this.io(`opening ${name}`, () => this.fs.openWrite(join(this.dir, name)));
    this.tail = { file, segment, sizeBytes, unsynced: false };
    return this.tail;
  }

  private async closeTail(): Promise<void> {
    const tail = this.tail;
    this.tail = undefined;
    if (tail !== undefined) {
      await tail.file.close().catch(() => undefined);
    }
  }

  private requireTail(): Tail {
    if (this.tail === undefined) {
      throw new ConsensusError("InvariantViolated", "WAL has no open segment");
    }
    return this.tail;
  }

  private async ensureLoaded(): Promise<void> {
    if (this.tail === undefined) {
      await this.open();
    }
  }

  /** Recovers the directory and opens its last segment for appending. */
  private async open(): Promise<Recovered> {
    await this.closeTail();
    if (this.lock === undefined) {
      this.lock = await this.io("locking the directory", async () => {
        await this.fs.mkdir(this.dir);
        return this.fs.lock(this.dir);
      });
    }
    const recovered = await this.io("recovering", () => recover(this.fs, this.dir, this.limits));
    // The live state tracks indices only; the entries belong to the caller from here on.
    this.state = copyWithoutEntries(recovered.state);
    this.segments = recovered.segments;
    this.recovery = recovered.report;
    await this.openTail(recovered.tailBytes);
    await this.pruneSegments();
    return recovered;
  }

  /** Runs one I/O step; a failure halts the adapter and rejects with `StorageFailure`. */
  private async io<T>(what: string, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      if (error instanceof ConsensusError) {
        throw error;
      }
      const code = (error as NodeJS.ErrnoException).code ?? "unknown";
      const detail = error instanceof Error ? error.message : String(error);
      this.failure = new ConsensusError(
        "StorageFailure",
        `WAL in ${this.dir} halted after an I/O error while ${what} (${code}): ${detail}`,
      );
      await this.closeTail();
      throw this.failure;
    }
  }

  private async exclusive<T>(call: () => Promise<T>): Promise<T> {
    if (this.failure !== undefined) {
      throw this.failure;
    }
    if (this.closed) {
      throw new ConsensusError("StorageFailure", `WAL in ${this.dir} is closed`);
    }
    if (this.busy) {
      throw new ConsensusError("StorageFailure", "WAL call while another is in flight");
    }
    this.busy = true;
    try {
      return await call();
    } finally {
      this.busy = false;
    }
  }
}

function snapshotMeta(snapshot: Snapshot): SnapshotMeta {
  return { index: snapshot.index, ballot: snapshot.ballot };
}

/** Records of one persist, in the order `MemoryStorage` applies them: snapshot, entries, state. */
function batchRecords(
  snapshot: SnapshotMeta | undefined,
  entries: readonly Entry[],
  hardState: HardState | undefined,
): WalRecord[] {
  const records: WalRecord[] = [];
  if (snapshot !== undefined) {
    records.push({ type: RecordType.Snapshot, snapshot });
  }
  for (const entry of entries) {
    records.push({ type: RecordType.Entry, entry });
  }
  if (hardState !== undefined) {
    records.push({ type: RecordType.HardState, hardState });
  }
  return records;
}

function copyWithoutEntries(source: WalState): WalState {
  const state = new WalState(undefined);
  state.hardState = source.hardState;
  state.snapshot = source.snapshot;
  state.compactedIndex = source.compactedIndex;
  state.lastIndex = source.lastIndex;
  return state;
}
