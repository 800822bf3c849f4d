import { type ByteReader, WasmFormatError } from "./wasm-binary.js";

/**
 * Decodes just enough of each instruction to step over its immediates, so that the fuel
 * instrumenter can find `loop` and `return` opcodes in a function body without a full decoder.
 * Covers the MVP and the proposals the ABI allows (bulk memory, sign extension, non-trapping
 * float-to-int, multi-value, SIMD128) plus tail calls, exception handling and atomics, which V8
 * may also accept.
 */

/** Opcodes the instrumenter reacts to. */
export const Opcode = {
  loop: 0x03,
  return: 0x0f,
  call: 0x10,
  callIndirect: 0x11,
  callRef: 0x14,
  returnCall: 0x12,
  returnCallIndirect: 0x13,
  returnCallRef: 0x15,
} as const;

/** Instruction prefixes whose sub-opcode (a u32 LEB128 after the prefix byte) names the op. */
export const Prefix = {
  misc: 0xfc,
  simd: 0xfd,
  atomic: 0xfe,
} as const;

/**
 * The relaxed-SIMD sub-opcodes (0xfd 0x100 to 0x113): their results may differ between machines
 * (fused or unfused multiply-add, out-of-range lane behaviour), by the proposal's design.
 */
export const RELAXED_SIMD_OPS = { first: 0x100, last: 0x113 } as const;

function skipBlockType(reader: ByteReader): void {
  const first = reader.bytes[reader.offset];
  if (first === 0x40 || (first !== undefined && first >= 0x6f && first <= 0x7f)) {
    reader.byte();
  } else if (first === 0x63 || first === 0x64) {
    reader.byte();
    reader.s33();
  } else {
    reader.s33();
  }
}

function skipMemArg(reader: ByteReader): void {
  const align = reader.u32();
  if ((align & 0x40) !== 0) reader.u32();
  reader.skipLeb();
}

const SIMD_LANE_OPS = new Set([21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34]);

function skipSimd(reader: ByteReader): void {
  const sub = reader.u32();
  if (sub <= 11 || sub === 92 || sub === 93) skipMemArg(reader);
  else if (sub === 12 || sub === 13) reader.skip(16);
  else if (SIMD_LANE_OPS.has(sub)) reader.byte();
  else if (sub >= 84 && sub <= 91) {
    skipMemArg(reader);
    reader.byte();
  }
}

function skipMisc(reader: ByteReader): void {
  const sub = reader.u32();
  if (sub <= 7) return;
  if (sub === 8 || sub === 10 || sub === 12 || sub === 14) {
    reader.u32();
    reader.u32();
  } else if (sub <= 17) {
    reader.u32();
  } else {
    throw new WasmFormatError(`unsupported instruction 0xfc ${sub}`);
  }
}

function skipAtomic(reader: ByteReader): void {
  const sub = reader.u32();
  if (sub === 3) reader.byte();
  else skipMemArg(reader);
}

/**
 * Reads one instruction at the reader's position, leaving the reader after it, and returns its
 * opcode (the first byte; prefixed instructions return the prefix).
 */
export function skipInstruction(reader: ByteReader): number {
  const op = reader.byte();
  if (op <= 0x01 || op === 0x05 || op === 0x0a || op === 0x0b || op === 0x0f) return op;
  if (op <= 0x04 || op === 0x06) {
    skipBlockType(reader);
    return op;
  }
  switch (op) {
    case 0x07:
    case 0x08:
    case 0x09:
    case 0x0c:
    case 0x0d:
    case 0x10:
    case 0x12:
    case 0x14:
    case 0x15:
    case 0x18:
    case 0xd2:
    case 0xd4:
    case 0xd6:
      reader.u32();
      return op;
    case 0x0e: {
      const count = reader.u32();
      for (let i = 0; i <= count; i++) reader.u32();
      return op;
    }
    case 0x11:
    case 0x13:
      reader.u32();
      reader.u32();
      return op;
    case 0x19:
    case 0x1a:
    case 0x1b:
    case 0xd1:
    case 0xd3:
    case 0xd5:
      return op;
    case 0x1c: {
      const count = reader.u32();
      for (let i = 0; i < count; i++) skipValueType(reader);
      return op;
    }
    case 0x1f: {
      skipBlockType(reader);
      const count = reader.u32();
      for (let i = 0; i < count; i++) {
        const kind = reader.byte();
        if (kind <= 1) reader.u32();
        reader.u32();
      }
      return op;
    }
    case 0x41:
    case 0x42:
      reader.skipLeb();
      return op;
    case 0x43:
      reader.skip(4);
      return op;
    case 0x44:
      reader.skip(8);
      return op;
    case 0xd0:
      reader.s33();
      return op;
    case 0xfc:
      skipMisc(reader);
      return op;
    case 0xfd:
      skipSimd(reader);
      return op;
    case 0xfe:
      skipAtomic(reader);
      return op;
    default:
      break;
  }
  if (op >= 0x20 && op <= 0x26) {
    reader.u32();
    return op;
  }
  if (op >= 0x28 && op <= 0x3e) {
    skipMemArg(reader);
    return op;
  }
  if (op === 0x3f || op === 0x40) {
    reader.u32();
    return op;
  }
  if (op >= 0x45 && op <= 0xc4) return op;
  throw new WasmFormatError(`unsupported instruction 0x${op.toString(16)}`);
}

function skipValueType(reader: ByteReader): void {
  const code = reader.byte();
  if (code === 0x63 || code === 0x64) reader.s33();
}
