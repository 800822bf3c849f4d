import type { Snapshot } from "../../core/entry.js";
import { crc32c } from "./crc32c.js";
import { WalCorruptionError } from "./errors.js";
import {
  SNAPSHOT_HEADER_BYTES,
  SNAPSHOT_MAGIC,
  SNAPSHOT_TRAILER_BYTES,
  SNAPSHOT_VERSION,
} from "./format.js";
import type { SnapshotMeta } from "./records.js";

const TWO_POW_32 = 2 ** 32;

/** `[magic][version][reserved][index u64][ballot u64][data length u32][data][crc32c of all before]`. */
export function encodeSnapshotFile(snapshot: Snapshot): Uint8Array {
  const size = SNAPSHOT_HEADER_BYTES + snapshot.data.byteLength + SNAPSHOT_TRAILER_BYTES;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, SNAPSHOT_MAGIC, true);
  view.setUint16(4, SNAPSHOT_VERSION, true);
  setU64(view, 8, snapshot.index);
  setU64(view, 16, snapshot.ballot);
  view.setUint32(24, snapshot.data.byteLength, true);
  bytes.set(snapshot.data, SNAPSHOT_HEADER_BYTES);
  const crcAt = size - SNAPSHOT_TRAILER_BYTES;
  view.setUint32(crcAt, crc32c(bytes, 0, 0, crcAt), true);
  return bytes;
}

/** Decodes a snapshot file and checks it is the one the log refers to (`expected`). */
export function decodeSnapshotFile(
  bytes: Uint8Array,
  file: string,
  expected: SnapshotMeta,
): Snapshot {
  const fail = (offset: number, detail: string): never => {
    throw new WalCorruptionError("BadSnapshot", file, offset, detail);
  };
  if (bytes.length < SNAPSHOT_HEADER_BYTES + SNAPSHOT_TRAILER_BYTES) {
    fail(0, `${bytes.length} bytes is shorter than a snapshot file`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const crcAt = bytes.length - SNAPSHOT_TRAILER_BYTES;
  if (view.getUint32(crcAt, true) !== crc32c(bytes, 0, 0, crcAt)) {
    fail(crcAt, "checksum mismatch");
  }
  if (view.getUint32(0, true) !== SNAPSHOT_MAGIC || view.getUint16(4, true) !== SNAPSHOT_VERSION) {
    fail(0, "bad magic or version");
  }
  const index = getU64(view, 8);
  const ballot = getU64(view, 16);
  const length = view.getUint32(24, true);
  if (SNAPSHOT_HEADER_BYTES + length !== crcAt) {
    fail(24, `data length ${length} disagrees with the file size`);
  }
  if (index !== expected.index || ballot !== expected.ballot) {
    fail(
      8,
      `holds slot ${index} ballot ${ballot}; the log expects ${expected.index}/${expected.ballot}`,
    );
  }
  return { index, ballot, data: bytes.slice(SNAPSHOT_HEADER_BYTES, crcAt) };
}

function setU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value % TWO_POW_32, true);
  view.setUint32(offset + 4, Math.floor(value / TWO_POW_32), true);
}

function getU64(view: DataView, offset: number): number {
  return view.getUint32(offset, true) + view.getUint32(offset + 4, true) * TWO_POW_32;
}
