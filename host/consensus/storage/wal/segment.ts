import { crc32c } from "./crc32c.js";
import { WalCorruptionError } from "./errors.js";
import {
  FRAME_HEADER_BYTES,
  RecordType,
  SEGMENT_HEADER_BYTES,
  SEGMENT_MAGIC,
  SEGMENT_VERSION,
} from "./format.js";
import { decodeRecord, RecordDecodeError, type WalRecord } from "./records.js";

const TWO_POW_32 = 2 ** 32;

/** One batch as found on disk: all its records, and the byte offset of its first frame. */
export interface ScannedBatch {
  readonly offsetBytes: number;
  readonly records: readonly WalRecord[];
}

/** What a segment holds: its complete batches, and where the valid part ends. */
export interface ScannedSegment {
  readonly batches: readonly ScannedBatch[];
  /** Bytes from the start of the file to the end of the last complete batch. */
  readonly validBytes: number;
  /** Bytes after `validBytes` that form a torn tail (only ever non-zero in the last segment). */
  readonly tornBytes: number;
}

export function encodeSegmentHeader(sequence: number): Uint8Array {
  const bytes = new Uint8Array(SEGMENT_HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, SEGMENT_MAGIC, true);
  view.setUint16(4, SEGMENT_VERSION, true);
  view.setUint16(6, SEGMENT_HEADER_BYTES, true);
  view.setUint32(8, sequence % TWO_POW_32, true);
  view.setUint32(12, Math.floor(sequence / TWO_POW_32), true);
  view.setUint32(24, crc32c(bytes, 0, 0, 24), true);
  return bytes;
}

/**
 * Reads a segment and classifies the first bad frame, if any. In the last segment a bad frame is
 * a torn tail when nothing but zeros could follow it (see {@link isTornTail}); then the segment is
 * valid up to the start of the incomplete batch. Anywhere else it is corruption: this throws
 * {@link WalCorruptionError} naming `file` and the frame's offset.
 */
export function scanSegment(
  bytes: Uint8Array,
  file: string,
  sequence: number,
  isLast: boolean,
  maxRecordBytes: number,
): ScannedSegment {
  checkHeader(bytes, file, sequence);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const batches: ScannedBatch[] = [];
  let pending: WalRecord[] = [];
  let batchStart = SEGMENT_HEADER_BYTES;
  let offset = SEGMENT_HEADER_BYTES;
  while (offset < bytes.length) {
    const frame = readFrame(bytes, view, offset, maxRecordBytes);
    if (frame.kind === "bad") {
      if (isLast && frame.torn) {
        break;
      }
      throw new WalCorruptionError("BadRecord", file, offset, frame.detail);
    }
    let decoded: { record: WalRecord; batchEnd: boolean };
    try {
      decoded = decodeRecord(frame.body);
    } catch (error) {
      if (error instanceof RecordDecodeError) {
        throw new WalCorruptionError("BadRecord", file, offset, error.message);
      }
      throw error;
    }
    if (batches.length === 0 && pending.length === 0) {
      if (decoded.record.type !== RecordType.Checkpoint || !decoded.batchEnd) {
        throw new WalCorruptionError(
          "BadLog",
          file,
          offset,
          "segment does not start with a checkpoint",
        );
      }
    } else if (decoded.record.type === RecordType.Checkpoint) {
      throw new WalCorruptionError("BadLog", file, offset, "checkpoint inside a segment");
    }
    pending.push(decoded.record);
    offset = frame.end;
    if (decoded.batchEnd) {
      batches.push({ offsetBytes: batchStart, records: pending });
      pending = [];
      batchStart = offset;
    }
  }
  if (batchStart < bytes.length && !isLast) {
    throw new WalCorruptionError(
      "IncompleteBatch",
      file,
      batchStart,
      "segment ends inside a batch",
    );
  }
  if (batches.length === 0) {
    throw new WalCorruptionError("BadLog", file, SEGMENT_HEADER_BYTES, "segment has no checkpoint");
  }
  return { batches, validBytes: batchStart, tornBytes: bytes.length - batchStart };
}

function checkHeader(bytes: Uint8Array, file: string, sequence: number): void {
  const fail = (detail: string): never => {
    throw new WalCorruptionError("BadSegmentHeader", file, 0, detail);
  };
  if (bytes.length < SEGMENT_HEADER_BYTES) {
    fail(`${bytes.length} bytes is shorter than the header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(24, true) !== crc32c(bytes, 0, 0, 24)) {
    fail("header checksum mismatch");
  }
  if (view.getUint32(0, true) !== SEGMENT_MAGIC) {
    fail("not a WAL segment (bad magic)");
  }
  const version = view.getUint16(4, true);
  if (version !== SEGMENT_VERSION) {
    fail(`segment version ${version}; this build reads version ${SEGMENT_VERSION}`);
  }
  const found = view.getUint32(8, true) + view.getUint32(12, true) * TWO_POW_32;
  if (found !== sequence) {
    fail(`header says sequence ${found}, the file name says ${sequence}`);
  }
}

type Frame =
  | { readonly kind: "ok"; readonly body: Uint8Array; readonly end: number }
  | { readonly kind: "bad"; readonly torn: boolean; readonly detail: string };

/**
 * Reads the frame at `offset`. A bad frame is `torn` when it is what an interrupted append leaves
 * behind: a frame header or body cut short by the end of the file, or a checksum mismatch
 * followed by nothing but zeros (file systems may zero-fill the unwritten part of a block).
 * A frame header that passes its own checksum but announces an impossible length is never torn.
 */
function readFrame(
  bytes: Uint8Array,
  view: DataView,
  offset: number,
  maxRecordBytes: number,
): Frame {
  if (bytes.length - offset < FRAME_HEADER_BYTES) {
    return { kind: "bad", torn: true, detail: "frame header cut short" };
  }
  if (view.getUint32(offset + 8, true) !== crc32c(bytes, 0, offset, offset + 8)) {
    return { kind: "bad", torn: allZero(bytes, offset), detail: "frame header checksum mismatch" };
  }
  const length = view.getUint32(offset, true);
  if (length === 0 || length > maxRecordBytes) {
    return { kind: "bad", torn: false, detail: `record length ${length} out of range` };
  }
  const bodyStart = offset + FRAME_HEADER_BYTES;
  const end = bodyStart + length;
  if (end > bytes.length) {
    return { kind: "bad", torn: true, detail: "record cut short" };
  }
  if (view.getUint32(offset + 4, true) !== crc32c(bytes, 0, bodyStart, end)) {
    return { kind: "bad", torn: allZero(bytes, end), detail: "record checksum mismatch" };
  }
  return { kind: "ok", body: bytes.subarray(bodyStart, end), end };
}

function allZero(bytes: Uint8Array, from: number): boolean {
  for (let i = from; i < bytes.length; i++) {
    if (bytes[i] !== 0) {
      return false;
    }
  }
  return true;
}
