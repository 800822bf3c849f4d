import { ReplicationError, type ReplicationErrorCode } from "./errors.js";

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Appends little-endian fields to a growing buffer. */
export class ByteWriter {
  private buffer: Uint8Array;
  private view: DataView;
  private length = 0;

  /** `initialBytes`: a size hint that spares the hot paths (session results) regrowing. */
  constructor(initialBytes = 64) {
    this.buffer = new Uint8Array(initialBytes);
    this.view = new DataView(this.buffer.buffer);
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + bytes) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
    this.view = new DataView(next.buffer);
  }

  u8(value: number): this {
    this.reserve(1);
    this.view.setUint8(this.length, value);
    this.length += 1;
    return this;
  }

  u16(value: number): this {
    this.reserve(2);
    this.view.setUint16(this.length, value, true);
    this.length += 2;
    return this;
  }

  u32(value: number): this {
    this.reserve(4);
    this.view.setUint32(this.length, value, true);
    this.length += 4;
    return this;
  }

  /** A non-negative safe integer as 8 bytes. */
  u64(value: number): this {
    this.reserve(8);
    this.view.setBigUint64(this.length, BigInt(value), true);
    this.length += 8;
    return this;
  }

  /** Any u64 (a seed) as 8 bytes. */
  u64big(value: bigint): this {
    this.reserve(8);
    this.view.setBigUint64(this.length, value, true);
    this.length += 8;
    return this;
  }

  i8(value: number): this {
    this.reserve(1);
    this.view.setInt8(this.length, value);
    this.length += 1;
    return this;
  }

  f32(value: number): this {
    this.reserve(4);
    this.view.setFloat32(this.length, value, true);
    this.length += 4;
    return this;
  }

  raw(bytes: Uint8Array): this {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
    return this;
  }

  /** Bytes prefixed by a u32 length. */
  bytes32(bytes: Uint8Array): this {
    return this.u32(bytes.length).raw(bytes);
  }

  /** UTF-8 prefixed by a u16 byte length. */
  string16(value: string): this {
    // Encoded in place (at most 3 bytes per UTF-16 unit): no intermediate array per string.
    this.reserve(2 + value.length * 3);
    const { written } = utf8.encodeInto(value, this.buffer.subarray(this.length + 2));
    this.view.setUint16(this.length, written, true);
    this.length += 2 + written;
    return this;
  }

  finish(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}

/**
 * Reads what {@link ByteWriter} wrote, checking every length against the bytes left. Any
 * overrun or malformed field throws a `ReplicationError` with the code given at construction.
 */
export class ByteReader {
  private readonly view: DataView;
  private offset = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly errorCode: ReplicationErrorCode,
    private readonly what: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(reason: string): never {
    throw new ReplicationError(this.errorCode, `${this.what}: ${reason} at byte ${this.offset}`);
  }

  private need(bytes: number): void {
    if (this.offset + bytes > this.bytes.length) this.fail(`truncated (need ${bytes} bytes)`);
  }

  u8(): number {
    this.need(1);
    const value = this.view.getUint8(this.offset);
    this.offset += 1;
    return value;
  }

  u16(): number {
    this.need(2);
    const value = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return value;
  }

  u32(): number {
    this.need(4);
    const value = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  u64(): number {
    this.need(8);
    const value = this.view.getBigUint64(this.offset, true);
    this.offset += 8;
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) this.fail("integer beyond 2^53");
    return Number(value);
  }

  u64big(): bigint {
    this.need(8);
    const value = this.view.getBigUint64(this.offset, true);
    this.offset += 8;
    return value;
  }

  i8(): number {
    this.need(1);
    const value = this.view.getInt8(this.offset);
    this.offset += 1;
    return value;
  }

  f32(): number {
    this.need(4);
    const value = this.view.getFloat32(this.offset, true);
    this.offset += 4;
    return value;
  }

  raw(length: number): Uint8Array {
    this.need(length);
    const out = this.bytes.slice(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  /** u32-length-prefixed bytes of at most `maxBytes`. */
  bytes32(maxBytes: number): Uint8Array {
    const length = this.u32();
    if (length > maxBytes) this.fail(`${length} bytes where at most ${maxBytes} are allowed`);
    return this.raw(length);
  }

  /** u16-length-prefixed UTF-8 of at most `maxBytes`. */
  string16(maxBytes: number): string {
    const length = this.u16();
    if (length > maxBytes) this.fail(`${length} bytes where at most ${maxBytes} are allowed`);
    try {
      return strictUtf8.decode(this.raw(length));
    } catch {
      return this.fail("invalid UTF-8");
    }
  }

  /** Fails unless every byte was read. */
  end(): void {
    if (this.offset !== this.bytes.length) this.fail("trailing bytes");
  }
}

/** UTF-8 byte length of `value`. */
export function utf8Length(value: string): number {
  return utf8.encode(value).length;
}
