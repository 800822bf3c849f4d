import { dirname, join } from "node:path";
import type { Entry, Snapshot } from "../../core/entry.js";
import { WalCorruptionError } from "./errors.js";
import {
  RecordType,
  SEGMENT_HEADER_BYTES,
  SEGMENT_NAME,
  SNAPSHOT_HEADER_BYTES,
  SNAPSHOT_NAME,
  SNAPSHOT_TRAILER_BYTES,
  segmentName,
  snapshotName,
  TEMP_SUFFIX,
} from "./format.js";
import type { WalFs } from "./fs.js";
import type { WalLimits } from "./options.js";
import { encodeBatch } from "./records.js";
import { encodeSegmentHeader, scanSegment } from "./segment.js";
import { decodeSnapshotFile } from "./snapshot-file.js";
import { WalState } from "./state.js";

/** A segment file the WAL keeps, and the highest slot any entry record in it wrote. */
export interface SegmentInfo {
  readonly sequence: number;
  maxEntryIndex: number;
  /** Batches after the checkpoint; a segment without any is never cut. */
  batches: number;
}

/** What recovery did, for logs and tests. */
export interface WalRecovery {
  /** Segments replayed. */
  readonly segments: number;
  /** Bytes cut from the end of the last segment (an interrupted append), 0 if none. */
  readonly truncatedBytes: number;
  /** Left-over temporary files and snapshot files nothing refers to, deleted. */
  readonly removedFiles: readonly string[];
}

export interface Recovered {
  readonly state: WalState;
  readonly entries: Entry[];
  readonly snapshot: Snapshot | undefined;
  readonly segments: SegmentInfo[];
  /** Size of the last segment after recovery: where the next append goes. */
  readonly tailBytes: number;
  readonly report: WalRecovery;
}

/**
 * Replays the WAL in `dir` (creating an empty one if there is none). Repairs only a torn tail of
 * the last segment (truncated and synced before anything new is written) and deletes left-over
 * temporary files; any other damage throws {@link WalCorruptionError}. I/O errors propagate.
 */
export async function recover(fs: WalFs, dir: string, limits: WalLimits): Promise<Recovered> {
  await fs.mkdir(dir);
  const names = await fs.readdir(dir);
  const temps = names.filter((name) => name.endsWith(TEMP_SUFFIX));
  const sequences = parseNames(names, SEGMENT_NAME);
  const snapshotIndexes = parseNames(names, SNAPSHOT_NAME);
  if (sequences.length === 0) {
    if (snapshotIndexes.length > 0) {
      throw new WalCorruptionError("BadLog", dir, 0, "snapshot files but no log segment");
    }
    // A crash while creating the very first segment leaves its temporary file: remove it first.
    for (const name of temps.splice(0)) {
      await fs.unlink(join(dir, name));
    }
    await createSegment(fs, dir, 1, new WalState(undefined), limits);
    // The directory itself may be new: make its name durable too.
    await fs.syncDir(dirname(dir));
    sequences.push(1);
  }
  checkContiguous(dir, sequences);

  const state = new WalState(new Map());
  const segments: SegmentInfo[] = [];
  let tailBytes = 0;
  let truncatedBytes = 0;
  let lastFile = "";
  for (const [i, sequence] of sequences.entries()) {
    const isLast = i === sequences.length - 1;
    const file = join(dir, segmentName(sequence));
    const bytes = await readBounded(fs, file, limits.segmentBytes + limits.maxBatchBytes);
    const scanned = scanSegment(bytes, file, sequence, isLast, limits.maxRecordBytes);
    const info: SegmentInfo = { sequence, maxEntryIndex: 0, batches: scanned.batches.length - 1 };
    for (const batch of scanned.batches) {
      for (const record of batch.records) {
        if (record.type === RecordType.Checkpoint && i > 0 && !state.matchesCheckpoint(record)) {
          throw new WalCorruptionError(
            "BadLog",
            file,
            batch.offsetBytes,
            "checkpoint disagrees with the segments before it",
          );
        }
        const error = state.apply(record);
        if (error !== undefined) {
          throw new WalCorruptionError("BadLog", file, batch.offsetBytes, error);
        }
        if (record.type === RecordType.Entry) {
          info.maxEntryIndex = Math.max(info.maxEntryIndex, record.entry.index);
        }
      }
    }
    segments.push(info);
    tailBytes = scanned.validBytes;
    truncatedBytes = scanned.tornBytes;
    lastFile = file;
  }

  const firstFile = join(dir, segmentName(sequences[0] as number));
  const entries = collectEntries(state, firstFile);
  let snapshot: Snapshot | undefined;
  if (state.snapshot !== undefined) {
    const file = join(dir, snapshotName(state.snapshot.index));
    if (!snapshotIndexes.includes(state.snapshot.index)) {
      throw new WalCorruptionError(
        "BadSnapshot",
        file,
        0,
        "the log refers to this snapshot but it is missing",
      );
    }
    const maxBytes = limits.maxSnapshotBytes + SNAPSHOT_HEADER_BYTES + SNAPSHOT_TRAILER_BYTES;
    snapshot = decodeSnapshotFile(await readBounded(fs, file, maxBytes), file, state.snapshot);
  }

  // Everything checked out: only now repair, so a refusal leaves the directory as it was.
  if (truncatedBytes > 0) {
    const handle = await fs.openWrite(lastFile);
    try {
      await handle.truncate(tailBytes);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }
  const removed = [...temps];
  for (const name of temps) {
    await fs.unlink(join(dir, name));
  }
  for (const index of snapshotIndexes) {
    if (index !== state.snapshot?.index) {
      await fs.unlink(join(dir, snapshotName(index)));
      removed.push(snapshotName(index));
    }
  }
  if (removed.length > 0) {
    await fs.syncDir(dir);
  }
  const report = { segments: sequences.length, truncatedBytes, removedFiles: removed };
  return { state, entries, snapshot, segments, tailBytes, report };
}

/**
 * Creates segment `sequence` holding its header and a checkpoint of `state`: written to a
 * temporary file, synced, renamed into place and the directory synced, so a segment either
 * exists whole or not at all. Returns the segment's size.
 */
export async function createSegment(
  fs: WalFs,
  dir: string,
  sequence: number,
  state: WalState,
  limits: WalLimits,
): Promise<number> {
  const header = encodeSegmentHeader(sequence);
  const checkpoint = encodeBatch([state.checkpoint()], limits.maxRecordBytes);
  const bytes = new Uint8Array(header.length + checkpoint.length);
  bytes.set(header);
  bytes.set(checkpoint, header.length);
  await writeFileAtomically(fs, dir, segmentName(sequence), bytes);
  return bytes.length;
}

/** Temporary file, write, fdatasync, rename, directory fsync. */
export async function writeFileAtomically(
  fs: WalFs,
  dir: string,
  name: string,
  bytes: Uint8Array,
): Promise<void> {
  const temp = join(dir, name + TEMP_SUFFIX);
  const handle = await fs.create(temp);
  try {
    await handle.write(bytes, 0);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await fs.rename(temp, join(dir, name));
  await fs.syncDir(dir);
}

function parseNames(names: readonly string[], pattern: RegExp): number[] {
  const numbers: number[] = [];
  for (const name of names) {
    const match = pattern.exec(name);
    if (match !== null) {
      numbers.push(Number.parseInt(match[1] as string, 16));
    }
  }
  return numbers.sort((a, b) => a - b);
}

function checkContiguous(dir: string, sequences: readonly number[]): void {
  for (let i = 1; i < sequences.length; i++) {
    const expected = (sequences[i - 1] as number) + 1;
    if (sequences[i] !== expected) {
      throw new WalCorruptionError(
        "BadLog",
        join(dir, segmentName(expected)),
        0,
        "segment missing",
      );
    }
  }
}

async function readBounded(fs: WalFs, file: string, maxBytes: number): Promise<Uint8Array> {
  const size = await fs.size(file);
  if (size > maxBytes) {
    throw new WalCorruptionError("TooLarge", file, maxBytes, `${size} bytes exceeds ${maxBytes}`);
  }
  return fs.readFile(file);
}

function collectEntries(state: WalState, firstFile: string): Entry[] {
  const entries: Entry[] = [];
  for (let slot = state.compactedIndex + 1; slot <= state.lastIndex; slot++) {
    const entry = state.entries?.get(slot);
    if (entry === undefined) {
      throw new WalCorruptionError(
        "BadLog",
        firstFile,
        SEGMENT_HEADER_BYTES,
        `slot ${slot} is in no segment`,
      );
    }
    entries.push(entry);
  }
  return entries;
}
