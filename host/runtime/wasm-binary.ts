/**
 * Minimal reading and writing of the WebAssembly binary format: LEB128 numbers and the section
 * layout. The loader only runs this on bytes that `WebAssembly.compile` has already accepted, so a
 * malformed input is a host bug or an unsupported feature and surfaces as a `WasmFormatError`.
 */

/** Thrown when the bytes do not have the structure this reader expects. */
export class WasmFormatError extends Error {
  override readonly name = "WasmFormatError";
}

/** A cursor over a byte array. */
export class ByteReader {
  offset: number;

  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    readonly end = bytes.byteLength,
  ) {
    this.offset = start;
  }

  get done(): boolean {
    return this.offset >= this.end;
  }

  byte(): number {
    if (this.offset >= this.end) throw new WasmFormatError("unexpected end of data");
    return this.bytes[this.offset++] as number;
  }

  /** Unsigned LEB128 of at most 32 bits. */
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (shift > 28) {
        const last = this.byte();
        result += (last & 0x7f) * 2 ** shift;
        if ((last & 0x80) !== 0) throw new WasmFormatError("u32 LEB128 too long");
        break;
      }
    }
    if (result > 0xffff_ffff) throw new WasmFormatError("u32 out of range");
    return result;
  }

  /** Skips a signed or unsigned LEB128 of any length (used for immediates the host ignores). */
  skipLeb(): void {
    while ((this.byte() & 0x80) !== 0) {
      // Continuation bytes carry no information the host needs.
    }
  }

  /** Reads a signed LEB128 that fits in a double exactly (block types are s33). */
  s33(): number {
    let result = 0;
    let shift = 0;
    let b: number;
    do {
      b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while ((b & 0x80) !== 0 && shift < 35);
    if ((b & 0x80) !== 0) throw new WasmFormatError("s33 LEB128 too long");
    if ((b & 0x40) !== 0) result -= 2 ** shift;
    return result;
  }

  skip(count: number): void {
    if (this.offset + count > this.end) throw new WasmFormatError("unexpected end of data");
    this.offset += count;
  }

  name(): string {
    const length = this.u32();
    const start = this.offset;
    this.skip(length);
    return new TextDecoder("utf-8", { fatal: true }).decode(
      this.bytes.subarray(start, start + length),
    );
  }
}

/** Appends bytes and LEB128 numbers to a growable buffer. */
export class ByteWriter {
  private buffer = new Uint8Array(256);
  length = 0;

  private reserve(extra: number): void {
    if (this.length + extra <= this.buffer.byteLength) return;
    let size = this.buffer.byteLength * 2;
    while (size < this.length + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
  }

  byte(value: number): this {
    this.reserve(1);
    this.buffer[this.length++] = value & 0xff;
    return this;
  }

  bytes(values: Uint8Array | readonly number[]): this {
    this.reserve(values.length);
    this.buffer.set(values, this.length);
    this.length += values.length;
    return this;
  }

  u32(value: number): this {
    let v = value >>> 0;
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.byte(b);
    } while (v !== 0);
    return this;
  }

  /** Signed LEB128 of a value in the i32 range. */
  s32(value: number): this {
    let v = value | 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      const done = (v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0);
      this.byte(done ? b : b | 0x80);
      if (done) return this;
    }
  }

  name(text: string): this {
    const encoded = new TextEncoder().encode(text);
    return this.u32(encoded.byteLength).bytes(encoded);
  }

  finish(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}

/** Section ids of the core format. */
export const SectionId = {
  custom: 0,
  type: 1,
  import: 2,
  function: 3,
  table: 4,
  memory: 5,
  global: 6,
  export: 7,
  start: 8,
  element: 9,
  code: 10,
  data: 11,
  dataCount: 12,
  tag: 13,
} as const;

/** Position of each section id in the canonical order (custom sections go anywhere). */
const SECTION_ORDER: Record<number, number> = {
  1: 1,
  2: 2,
  3: 3,
  4: 4,
  5: 5,
  13: 6,
  6: 7,
  7: 8,
  8: 9,
  9: 10,
  12: 11,
  10: 12,
  11: 13,
};

/** Rank of a section id in the order the format requires. */
export function sectionRank(id: number): number {
  return SECTION_ORDER[id] ?? 0;
}

/** One section: its id and its payload (without the id byte and size). */
export interface Section {
  readonly id: number;
  readonly payload: Uint8Array;
}

const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/** Splits a module into its sections. */
export function readSections(bytes: Uint8Array): Section[] {
  if (bytes.byteLength < 8 || HEADER.some((b, i) => bytes[i] !== b)) {
    throw new WasmFormatError("not a WebAssembly version 1 module");
  }
  const reader = new ByteReader(bytes, 8);
  const sections: Section[] = [];
  while (!reader.done) {
    const id = reader.byte();
    const size = reader.u32();
    const start = reader.offset;
    reader.skip(size);
    sections.push({ id, payload: bytes.subarray(start, start + size) });
  }
  return sections;
}

/** Joins sections back into a module. */
export function writeSections(sections: readonly Section[]): Uint8Array {
  const writer = new ByteWriter().bytes(HEADER);
  for (const section of sections) {
    writer.byte(section.id).u32(section.payload.byteLength).bytes(section.payload);
  }
  return writer.finish();
}
