import type { Command, Entry, HardState, SlotValue } from "../../core/entry.js";
import { crc32c } from "./crc32c.js";
import { BATCH_END, FRAME_HEADER_BYTES, RecordType } from "./format.js";

/** What a record says about a snapshot; the data itself lives in a snapshot file. */
export interface SnapshotMeta {
  readonly index: number;
  readonly ballot: number;
}

/** One logical WAL record (see `RecordType`). */
export type WalRecord =
  | {
      readonly type: typeof RecordType.Checkpoint;
      readonly hardState: HardState;
      readonly compactedIndex: number;
      readonly lastIndex: number;
      readonly snapshot: SnapshotMeta | undefined;
    }
  | { readonly type: typeof RecordType.HardState; readonly hardState: HardState }
  | { readonly type: typeof RecordType.Entry; readonly entry: Entry }
  | { readonly type: typeof RecordType.Snapshot; readonly snapshot: SnapshotMeta }
  | {
      readonly type: typeof RecordType.Compaction;
      readonly snapshot: SnapshotMeta;
      readonly throughIndex: number;
    };

/** A record body that passed its checksum but does not decode: a bug or a foreign file. */
export class RecordDecodeError extends Error {
  override readonly name = "RecordDecodeError";
}

/** A value the WAL cannot encode (out of range); the batch is refused before any write. */
export class RecordEncodeError extends Error {
  override readonly name = "RecordEncodeError";
}

const NOOP_KIND = 0;
const BATCH_KIND = 1;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;
const TWO_POW_32 = 2 ** 32;

/**
 * Frames `records` as one batch: each record is `[length][body crc][header crc][type][payload]`
 * and the last one carries {@link BATCH_END}. One buffer, so the caller does one write.
 * Throws {@link RecordEncodeError} if a value is out of range or a record exceeds
 * `maxRecordBytes`.
 */
export function encodeBatch(records: readonly WalRecord[], maxRecordBytes: number): Uint8Array {
  const bodySizes = records.map((record) => 1 + payloadBytes(record));
  let total = 0;
  for (const size of bodySizes) {
    if (size > maxRecordBytes) {
      throw new RecordEncodeError(`record of ${size} bytes exceeds the limit of ${maxRecordBytes}`);
    }
    total += FRAME_HEADER_BYTES + size;
  }
  const out = new Writer(total);
  records.forEach((record, i) => {
    const frameStart = out.offset;
    const bodySize = bodySizes[i] as number;
    out.offset += FRAME_HEADER_BYTES;
    const bodyStart = out.offset;
    out.u8(record.type | (i === records.length - 1 ? BATCH_END : 0));
    writePayload(out, record);
    if (out.offset - bodyStart !== bodySize) {
      throw new RecordEncodeError("record size mismatch (encoder bug)");
    }
    out.view.setUint32(frameStart, bodySize, true);
    out.view.setUint32(frameStart + 4, crc32c(out.bytes, 0, bodyStart, out.offset), true);
    out.view.setUint32(frameStart + 8, crc32c(out.bytes, 0, frameStart, frameStart + 8), true);
  });
  return out.bytes;
}

/** Decodes one checksummed record body; throws {@link RecordDecodeError} if it is malformed. */
export function decodeRecord(body: Uint8Array): { record: WalRecord; batchEnd: boolean } {
  const input = new Reader(body);
  const typeByte = input.u8();
  const type = typeByte & ~BATCH_END;
  const batchEnd = (typeByte & BATCH_END) !== 0;
  const record = readPayload(input, type);
  if (input.offset !== body.length) {
    throw new RecordDecodeError(`${body.length - input.offset} trailing bytes in record`);
  }
  return { record, batchEnd };
}

function payloadBytes(record: WalRecord): number {
  switch (record.type) {
    case RecordType.Checkpoint:
      return 16 + 8 + 8 + 1 + (record.snapshot === undefined ? 0 : 16);
    case RecordType.HardState:
      return 16;
    case RecordType.Entry:
      return entryBytes(record.entry);
    case RecordType.Snapshot:
      return 16;
    case RecordType.Compaction:
      return 24;
  }
}

function entryBytes(entry: Entry): number {
  let bytes = 8 + 8 + 1;
  if (entry.value.kind === "batch") {
    bytes += 4;
    for (const command of entry.value.commands) {
      bytes += 2 + utf8Length(command.clientId) + 8 + 4;
      bytes += command.payload.byteLength;
    }
  }
  return bytes;
}

function writePayload(out: Writer, record: WalRecord): void {
  switch (record.type) {
    case RecordType.Checkpoint:
      writeHardState(out, record.hardState);
      out.u64(record.compactedIndex);
      out.u64(record.lastIndex);
      out.u8(record.snapshot === undefined ? 0 : 1);
      if (record.snapshot !== undefined) {
        writeSnapshotMeta(out, record.snapshot);
      }
      return;
    case RecordType.HardState:
      writeHardState(out, record.hardState);
      return;
    case RecordType.Entry:
      writeEntry(out, record.entry);
      return;
    case RecordType.Snapshot:
      writeSnapshotMeta(out, record.snapshot);
      return;
    case RecordType.Compaction:
      writeSnapshotMeta(out, record.snapshot);
      out.u64(record.throughIndex);
      return;
  }
}

function readPayload(input: Reader, type: number): WalRecord {
  switch (type) {
    case RecordType.Checkpoint: {
      const hardState = readHardState(input);
      const compactedIndex = input.u64();
      const lastIndex = input.u64();
      const flag = input.u8();
      if (flag > 1) {
        throw new RecordDecodeError(`bad snapshot flag ${flag}`);
      }
      const snapshot = flag === 1 ? readSnapshotMeta(input) : undefined;
      return { type, hardState, compactedIndex, lastIndex, snapshot };
    }
    case RecordType.HardState:
      return { type, hardState: readHardState(input) };
    case RecordType.Entry:
      return { type, entry: readEntry(input) };
    case RecordType.Snapshot:
      return { type, snapshot: readSnapshotMeta(input) };
    case RecordType.Compaction: {
      const snapshot = readSnapshotMeta(input);
      return { type, snapshot, throughIndex: input.u64() };
    }
    default:
      throw new RecordDecodeError(`unknown record type ${type}`);
  }
}

function writeHardState(out: Writer, hardState: HardState): void {
  out.u64(hardState.promisedBallot);
  out.u64(hardState.commitIndex);
}

function readHardState(input: Reader): HardState {
  return { promisedBallot: input.u64(), commitIndex: input.u64() };
}

function writeSnapshotMeta(out: Writer, meta: SnapshotMeta): void {
  out.u64(meta.index);
  out.u64(meta.ballot);
}

function readSnapshotMeta(input: Reader): SnapshotMeta {
  return { index: input.u64(), ballot: input.u64() };
}

function writeEntry(out: Writer, entry: Entry): void {
  out.u64(entry.index);
  out.u64(entry.ballot);
  if (entry.value.kind === "noop") {
    out.u8(NOOP_KIND);
    return;
  }
  out.u8(BATCH_KIND);
  out.u32(entry.value.commands.length);
  for (const command of entry.value.commands) {
    out.string16(command.clientId);
    // A float64 keeps any JavaScript number exactly; validating request ids is the core's job.
    out.f64(command.requestId);
    out.u32(command.payload.byteLength);
    out.bytesOf(command.payload);
  }
}

function readEntry(input: Reader): Entry {
  const index = input.u64();
  const ballot = input.u64();
  const kind = input.u8();
  if (kind === NOOP_KIND) {
    return { index, ballot, value: { kind: "noop" } };
  }
  if (kind !== BATCH_KIND) {
    throw new RecordDecodeError(`unknown slot value kind ${kind}`);
  }
  const count = input.u32();
  // Each command takes at least 14 bytes, so a count the body cannot hold is refused up front.
  if (count * 14 > input.remaining()) {
    throw new RecordDecodeError(`command count ${count} exceeds the record`);
  }
  const commands: Command[] = [];
  for (let i = 0; i < count; i++) {
    const clientId = input.string16();
    const requestId = input.f64();
    const payload = input.take(input.u32());
    commands.push({ clientId, requestId, payload });
  }
  const value: SlotValue = { kind: "batch", commands };
  return { index, ballot, value };
}

const utf8 = new TextEncoder();

/** UTF-8 length of `text` without encoding it (ASCII, the common case for ids, in one pass). */
function utf8Length(text: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) {
      return Buffer.byteLength(text, "utf8");
    }
  }
  return text.length;
}

class Writer {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  offset = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  u8(value: number): void {
    this.view.setUint8(this.offset, value);
    this.offset += 1;
  }

  u32(value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > U32_MAX) {
      throw new RecordEncodeError(`${value} is not a u32`);
    }
    this.view.setUint32(this.offset, value, true);
    this.offset += 4;
  }

  u64(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RecordEncodeError(`${value} is not a non-negative safe integer`);
    }
    this.view.setUint32(this.offset, value % TWO_POW_32, true);
    this.view.setUint32(this.offset + 4, Math.floor(value / TWO_POW_32), true);
    this.offset += 8;
  }

  f64(value: number): void {
    this.view.setFloat64(this.offset, value, true);
    this.offset += 8;
  }

  string16(value: string): void {
    const length = utf8.encodeInto(value, this.bytes.subarray(this.offset + 2)).written;
    if (length > U16_MAX) {
      throw new RecordEncodeError(`string of ${length} bytes exceeds ${U16_MAX}`);
    }
    this.view.setUint16(this.offset, length, true);
    this.offset += 2 + length;
  }

  bytesOf(value: Uint8Array): void {
    this.bytes.set(value, this.offset);
    this.offset += value.byteLength;
  }
}

/** Scratch space for reading a float64 without a DataView per record. */
const F64_SCRATCH = new DataView(new ArrayBuffer(8));
const utf8Decoder = new TextDecoder();
/** Identifiers up to this length are decoded by hand when they are ASCII (the common case). */
const ASCII_FAST_BYTES = 64;

/**
 * Reads one record body. Recovery decodes every record of the log, so this allocates nothing but
 * the decoded values: bytes are read by hand rather than through a DataView per record.
 */
class Reader {
  offset = 0;

  constructor(private readonly bytes: Uint8Array) {}

  remaining(): number {
    return this.bytes.length - this.offset;
  }

  private need(count: number): void {
    if (count > this.remaining()) {
      throw new RecordDecodeError(`record ends ${count - this.remaining()} bytes early`);
    }
  }

  u8(): number {
    this.need(1);
    return this.bytes[this.offset++] as number;
  }

  private rawU32(at: number): number {
    const b = this.bytes;
    return (
      ((b[at] as number) |
        ((b[at + 1] as number) << 8) |
        ((b[at + 2] as number) << 16) |
        ((b[at + 3] as number) << 24)) >>>
      0
    );
  }

  u32(): number {
    this.need(4);
    const value = this.rawU32(this.offset);
    this.offset += 4;
    return value;
  }

  u64(): number {
    this.need(8);
    const value = this.rawU32(this.offset + 4) * TWO_POW_32 + this.rawU32(this.offset);
    this.offset += 8;
    if (!Number.isSafeInteger(value)) {
      throw new RecordDecodeError(`u64 ${value} exceeds the safe integer range`);
    }
    return value;
  }

  f64(): number {
    this.need(8);
    for (let i = 0; i < 8; i++) {
      F64_SCRATCH.setUint8(i, this.bytes[this.offset + i] as number);
    }
    this.offset += 8;
    return F64_SCRATCH.getFloat64(0, true);
  }

  string16(): string {
    this.need(2);
    const length =
      (this.bytes[this.offset] as number) | ((this.bytes[this.offset + 1] as number) << 8);
    this.offset += 2;
    this.need(length);
    const start = this.offset;
    this.offset += length;
    if (length <= ASCII_FAST_BYTES) {
      let text = "";
      for (let i = start; i < start + length; i++) {
        const byte = this.bytes[i] as number;
        if (byte > 0x7f) {
          return utf8Decoder.decode(this.bytes.subarray(start, start + length));
        }
        text += String.fromCharCode(byte);
      }
      return text;
    }
    return utf8Decoder.decode(this.bytes.subarray(start, start + length));
  }

  take(count: number): Uint8Array {
    this.need(count);
    // A copy (a plain Uint8Array even when reading a Buffer), so a decoded entry does not pin
    // the whole segment buffer in memory.
    const value = new Uint8Array(this.bytes.subarray(this.offset, this.offset + count));
    this.offset += count;
    return value;
  }
}
