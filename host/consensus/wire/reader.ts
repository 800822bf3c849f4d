import { WireDecodeError } from "./errors.js";

const TWO_TO_32 = 2 ** 32;
/** The high word of a u64 that is still a safe integer: 2^53 - 1 >> 32. */
const MAX_SAFE_HIGH_WORD = 0x1f_ffff;
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Reads a frame front to back. Every read is checked against the bytes that remain and throws
 * {@link WireDecodeError} (never a RangeError) when it would run past the end. Byte arrays are
 * copied out, so a decoded message never aliases (and never keeps alive) the input buffer.
 */
export class WireReader {
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private readonly buffer: Buffer;
  /** The next byte to read. */
  offset: number;

  constructor(bytes: Uint8Array, offset = 0) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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
    const value = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return value;
  }

  u32(field: string): number {
    this.need(4, field);
    const value = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  /** A u64 that must be a safe integer (every index, ballot and request id is one). */
  u64(field: string): number {
    this.need(8, field);
    const low = this.view.getUint32(this.offset, true);
    const high = this.view.getUint32(this.offset + 4, true);
    if (high > MAX_SAFE_HIGH_WORD) {
      throw new WireDecodeError("InvalidField", `${field} is above 2^53 - 1`);
    }
    this.offset += 8;
    return high * TWO_TO_32 + low;
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
    const copy = new Uint8Array(length);
    copy.set(this.bytes.subarray(this.offset, this.offset + length));
    this.offset += length;
    return copy;
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
      return this.buffer.toString("latin1", start, end);
    }
    try {
      return utf8.decode(this.bytes.subarray(start, end));
    } catch {
      throw new WireDecodeError("InvalidField", `${field} is not valid UTF-8`);
    }
  }
}
