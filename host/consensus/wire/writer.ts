import { WireEncodeError } from "./errors.js";

const TWO_TO_32 = 2 ** 32;
/** Capacity above which `reset()` gives the memory back (after one huge snapshot frame). */
const MAX_RETAINED_BYTES = 1 << 20;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * A growable little-endian byte buffer that frames are encoded into. One writer is reused for
 * many frames, so encoding allocates only when the buffer grows. `bytes()` is a view that stays
 * valid until the next write or `reset()`.
 */
export class WireWriter {
  private buffer: Buffer;
  private view: DataView;
  private readonly initialBytes: number;
  /** Bytes written so far. */
  length = 0;

  constructor(initialBytes = 64 * 1024) {
    this.initialBytes = initialBytes;
    this.buffer = Buffer.allocUnsafe(initialBytes);
    this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
  }

  /** The bytes written so far (a view into the writer's buffer). */
  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  /** Forgets everything written; returns an oversized buffer to its initial size. */
  reset(): void {
    this.length = 0;
    if (this.buffer.byteLength > MAX_RETAINED_BYTES && this.initialBytes <= MAX_RETAINED_BYTES) {
      this.replace(Buffer.allocUnsafe(this.initialBytes));
    }
  }

  /** Drops everything written after `length` (rolls back a frame that failed to encode). */
  truncate(length: number): void {
    this.length = length;
  }

  private replace(buffer: Buffer): void {
    this.buffer = buffer;
    this.view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }

  private ensure(extra: number): void {
    const needed = this.length + extra;
    if (needed <= this.buffer.byteLength) {
      return;
    }
    let capacity = this.buffer.byteLength * 2;
    while (capacity < needed) {
      capacity *= 2;
    }
    const grown = Buffer.allocUnsafe(capacity);
    this.buffer.copy(grown, 0, 0, this.length);
    this.replace(grown);
  }

  u8(value: number): void {
    this.ensure(1);
    this.buffer[this.length] = value;
    this.length += 1;
  }

  u16(value: number): void {
    this.ensure(2);
    this.view.setUint16(this.length, value, true);
    this.length += 2;
  }

  u32(value: number): void {
    this.ensure(4);
    this.view.setUint32(this.length, value, true);
    this.length += 4;
  }

  /** Overwrites a u32 written earlier (the length prefix, once the frame is complete). */
  u32At(offset: number, value: number): void {
    this.view.setUint32(offset, value, true);
  }

  /** A non-negative safe integer as u64 (low word first); `field` names it in errors. */
  u64(value: number, field: string): void {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new WireEncodeError("InvalidField", `${field} must be a non-negative safe integer`);
    }
    this.ensure(8);
    const low = value >>> 0;
    this.view.setUint32(this.length, low, true);
    this.view.setUint32(this.length + 4, (value - low) / TWO_TO_32, true);
    this.length += 8;
  }

  /** A u32 length followed by the bytes. */
  bytesWithLength(bytes: Uint8Array): void {
    this.u32(bytes.byteLength);
    this.ensure(bytes.byteLength);
    this.buffer.set(bytes, this.length);
    this.length += bytes.byteLength;
  }

  /**
   * A string as a length (u8 or u16, `lengthBytes`) followed by its UTF-8 bytes. Strings with lone
   * surrogates are refused: UTF-8 cannot carry them, and silently replacing them would merge two
   * distinct client ids.
   */
  string(value: string, lengthBytes: 1 | 2, maxBytes: number, field: string): void {
    if (value.length <= maxBytes && this.asciiString(value, lengthBytes)) {
      return;
    }
    const byteLength = Buffer.byteLength(value, "utf8");
    if (byteLength > maxBytes) {
      throw new WireEncodeError(
        "LimitExceeded",
        `${field} is ${byteLength} bytes, over ${maxBytes}`,
      );
    }
    if (byteLength !== value.length && LONE_SURROGATE.test(value)) {
      throw new WireEncodeError("InvalidField", `${field} is not well-formed Unicode`);
    }
    this.stringLength(byteLength, lengthBytes);
    this.ensure(byteLength);
    this.buffer.write(value, this.length, byteLength, "utf8");
    this.length += byteLength;
  }

  /**
   * Writes an ASCII string byte by byte (faster than a native call for short client ids);
   * returns false, having written nothing, if the string is not ASCII.
   */
  private asciiString(value: string, lengthBytes: 1 | 2): boolean {
    const count = value.length;
    this.ensure(lengthBytes + count);
    const buffer = this.buffer;
    const start = this.length + lengthBytes;
    for (let i = 0; i < count; i += 1) {
      const code = value.charCodeAt(i);
      if (code >= 0x80) {
        return false;
      }
      buffer[start + i] = code;
    }
    this.stringLength(count, lengthBytes);
    this.length += count;
    return true;
  }

  private stringLength(byteLength: number, lengthBytes: 1 | 2): void {
    if (lengthBytes === 1) {
      this.u8(byteLength);
    } else {
      this.u16(byteLength);
    }
  }
}
