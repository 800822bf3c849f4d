/**
 * The cost model of fuel: what each instruction and each byte of bulk memory work is charged.
 * One place, because replicas re-executing a step must charge exactly the same, and because the
 * budgets in sandbox-options.ts are calibrated against these weights (docs/abi.md, section 7).
 *
 * Weights are whole units and depend only on the instruction, never on the machine. Most
 * instructions cost 1. Structure (`block`, `loop`, `end`, `else`, `nop`, `try`) compiles to no
 * machine code and costs 0; every cycle still pays, because it needs a branch. The few
 * instructions that are many times slower than an add on every CPU (integer division, float
 * division and square root, calls, `memory.grow`) cost more, so that a loop of only those cannot
 * run far longer per unit than ordinary code.
 */

/** Bulk operations charge one unit per this many bytes (2^3 = 8), on top of their weight. */
export const BULK_BYTES_PER_UNIT_LOG2 = 3;

/** Table elements are charged as if each were this many bytes (2^3 = 8, one reference). */
export const TABLE_ELEMENT_BYTES_LOG2 = 3;

/** A page of linear memory is 2^16 bytes; `memory.grow` charges its pages by their bytes. */
export const PAGE_BYTES_LOG2 = 16;

/** Weight of a call (`call`, `call_indirect`, `call_ref` and their tail-call forms). */
const CALL_WEIGHT = 4;
/** Integer division and remainder, float division and square root. */
const SLOW_ARITHMETIC_WEIGHT = 8;
/** `memory.grow` itself, before its pages are charged: a call into the engine, about 1 us. */
const GROW_WEIGHT = 4096;

const FREE = new Set([0x01, 0x02, 0x03, 0x05, 0x06, 0x0b]);
const CALLS = new Set([0x10, 0x11, 0x12, 0x13, 0x14, 0x15]);
const SLOW = new Set([
  0x6d,
  0x6e,
  0x6f,
  0x70, // i32.div_s div_u rem_s rem_u
  0x7f,
  0x80,
  0x81,
  0x82, // i64.div_s div_u rem_s rem_u
  0x91,
  0x95, // f32.sqrt f32.div
  0x9f,
  0xa3, // f64.sqrt f64.div
]);

/** Fuel units of one instruction: `op` is its first byte. Bulk byte counts are charged apart. */
export function instructionWeight(op: number): number {
  if (FREE.has(op)) return 0;
  if (CALLS.has(op)) return CALL_WEIGHT;
  if (SLOW.has(op)) return SLOW_ARITHMETIC_WEIGHT;
  if (op === 0x40) return GROW_WEIGHT;
  return 1;
}

/** What the top of the stack counts before a bulk operation runs. */
export type BulkUnit = "bytes" | "pages" | "elements";

/**
 * The bulk operation an instruction is, if any, and the unit of its count operand (an i32 on top
 * of the stack when the instruction starts). `sub` is the 0xfc sub-opcode, or -1.
 */
export function bulkOperation(op: number, sub: number): BulkUnit | undefined {
  if (op === 0x40) return "pages"; // memory.grow
  if (op !== 0xfc) return undefined;
  switch (sub) {
    case 8: // memory.init
    case 10: // memory.copy
    case 11: // memory.fill
      return "bytes";
    case 12: // table.init
    case 14: // table.copy
    case 15: // table.grow
    case 17: // table.fill
      return "elements";
    default:
      return undefined;
  }
}

/** Left shift (positive) or right shift (negative) turning a count of `unit` into fuel units. */
export function bulkShift(unit: BulkUnit): number {
  const log2 = unit === "bytes" ? 0 : unit === "pages" ? PAGE_BYTES_LOG2 : TABLE_ELEMENT_BYTES_LOG2;
  return log2 - BULK_BYTES_PER_UNIT_LOG2;
}
