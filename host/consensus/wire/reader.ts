import { WireDecodeError } from "./errors.js";

const TWO_TO_32 = 2 ** 32;
/** The high word of a u64 that is still a safe integer: 2^53 - 1 >> 32. */
const MAX_SAFE_HIGH_WORD = 0x1f_ffff;
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Reads a frame front to back. Every read is checked against the bytes that remain and throws
 * {@link WireDecodeError} (never a RangeError) when it would run past the end. Byte arrays are
 * views of one private copy of the frame, so a decoded message never aliases (and never keeps
 * alive) the input buffer.
 */
export class WireReader {
  private readonly bytes: Uint8Array;
  /** A Buffer view of the input, made on the first string read (for its latin1 decoder). */
  private buffer: Buffer | undefined;
  /** One copy of the input, made on the first byte array read; byte arrays are views of it. */
  private copy: ArrayBuffer | undefined;
  /** The next byte to read. */
  offset: number;

  constructor(bytes: Uint8Array, offset = 0) {
    this.bytes = bytes;
    this.offset = offset;
  }

  /** Bytes not read yet. */
  remaining(): number {
    return this.bytes.byteLength - this.offset;
  }

  private need(count: number, field: string): void {
    if (count > this.bytes.byteLength - this.offset) {
      throw new WireDecodeError("Truncated", `${field} runs past the end of the frame`);
    }
  }

  u8(field: string): number {
    this.need(1, field);
    const value = this.bytes[this.offset] as number;
    this.offset += 1;
    return value;
  }

  u16(field: string): number {
    this.need(2, field);
    const bytes = this.bytes;
    const at = this.offset;
    const value = (bytes[at] as number) | ((bytes[at + 1] as number) << 8);
    this.offset += 2;
    return value;
  }

  u32(field: string): number {
    this.need(4, field);
    const value = this.word(this.offset);
    this.offset += 4;
    return value;
  }

  /** A u64 that must be a safe integer (every index, ballot and request id is one). */
  u64(field: string): number {
    this.need(8, field);
    const low = this.word(this.offset);
    const high = this.word(this.offset + 4);
    if (high > MAX_SAFE_HIGH_WORD) {
      throw new WireDecodeError("InvalidField", `${field} is above 2^53 - 1`);
    }
    this.offset += 8;
    return high * TWO_TO_32 + low;
  }

  /** The little-endian u32 at `at` (bounds checked by the caller). */
  private word(at: number): number {
    const bytes = this.bytes;
    return (
      ((bytes[at] as number) |
        ((bytes[at + 1] as number) << 8) |
        ((bytes[at + 2] as number) << 16) |
        ((bytes[at + 3] as number) << 24)) >>>
      0
    );
  }

  /** A boolean byte: exactly 0 or 1. */
  bool(field: string): boolean {
    const value = this.u8(field);
    if (value > 1) {
      throw new WireDecodeError("InvalidField", `${field} must be 0 or 1, got ${value}`);
    }
    return value === 1;
  }

  /** A u32 length then that many bytes, copied; the length is checked against `maxBytes`. */
  bytesWithLength(maxBytes: number, field: string): Uint8Array {
    const length = this.u32(field);
    if (length > maxBytes) {
      throw new WireDecodeError("LimitExceeded", `${field} is ${length} bytes, over ${maxBytes}`);
    }
    this.need(length, field);
    // Copying the frame once is cheaper than one copy per payload; the views keep at most the
    // frame's own bytes alive, never the socket buffer it was cut from.
    if (this.copy === undefined) {
      const copy = new Uint8Array(this.bytes.byteLength);
      copy.set(this.bytes);
      this.copy = copy.buffer;
    }
    const view = new Uint8Array(this.copy, this.offset, length);
    this.offset += length;
    return view;
  }

  /** A u8 or u16 length then that many bytes of strict UTF-8. */
  string(lengthBytes: 1 | 2, maxBytes: number, field: string): string {
    const length = lengthBytes === 1 ? this.u8(field) : this.u16(field);
    if (length > maxBytes) {
      throw new WireDecodeError("LimitExceeded", `${field} is ${length} bytes, over ${maxBytes}`);
    }
    this.need(length, field);
    const start = this.offset;
    const end = start + length;
    this.offset = end;
    let ascii = true;
    for (let i = start; i < end; i += 1) {
      if ((this.bytes[i] as number) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      const bytes = this.bytes;
      this.buffer ??= Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return this.buffer.toString("latin1", start, end);
    }
    try {
      return utf8.decode(this.bytes.subarray(start, end));
    } catch {
      throw new WireDecodeError("InvalidField", `${field} is not valid UTF-8`);
    }
  }
}
