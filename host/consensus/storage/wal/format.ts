/**
 * On-disk constants of the write-ahead log (documented in docs/consensus.md, "Write-ahead log").
 * Everything is little-endian. Changing a layout means bumping the version it belongs to.
 */

/** "CWAL": first bytes of every segment file. */
export const SEGMENT_MAGIC = 0x4c415743;
/** "CSNP": first bytes of every snapshot file. */
export const SNAPSHOT_MAGIC = 0x504e5343;
/** Version of the segment and record layout this code writes and reads. */
export const SEGMENT_VERSION = 1;
/** Version of the snapshot file layout. */
export const SNAPSHOT_VERSION = 1;

/** magic u32, version u16, header bytes u16, sequence u64, reserved u64, header crc u32, pad u32. */
export const SEGMENT_HEADER_BYTES = 32;
/** Record frame: body length u32, body crc u32, frame-header crc u32 (over the first 8 bytes). */
export const FRAME_HEADER_BYTES = 12;
/** magic u32, version u16, reserved u16, index u64, ballot u64, data length u32. */
export const SNAPSHOT_HEADER_BYTES = 28;
/** The crc32c of header and data that ends a snapshot file. */
export const SNAPSHOT_TRAILER_BYTES = 4;

/** The first byte of a record body: its type, with {@link BATCH_END} set on a batch's last record. */
export const RecordType = {
  /** Whole acceptor state except entries: first record of every segment. */
  Checkpoint: 1,
  HardState: 2,
  Entry: 3,
  /** A snapshot installed by `persist` (its data is in a snapshot file). */
  Snapshot: 4,
  /** `compact(snapshot, throughIndex)`. */
  Compaction: 5,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

/** Set on the last record of a batch: a batch counts only once its end record is on disk. */
export const BATCH_END = 0x80;

/** Segment files are named by their sequence number: 16 lower-case hex digits, then ".wal". */
export const SEGMENT_NAME = /^([0-9a-f]{16})\.wal$/;
/** Snapshot files are named by the snapshot's index. */
export const SNAPSHOT_NAME = /^snap-([0-9a-f]{16})\.snap$/;
/** Files being written before an atomic rename; left-overs from a crash are deleted on load. */
export const TEMP_SUFFIX = ".tmp";

export function segmentName(sequence: number): string {
  return `${sequence.toString(16).padStart(16, "0")}.wal`;
}

export function snapshotName(index: number): string {
  return `snap-${index.toString(16).padStart(16, "0")}.snap`;
}
