import { LoadError } from "./errors.js";
import { ByteReader, readSections, SectionId, WasmFormatError } from "./wasm-binary.js";
import { Prefix, RELAXED_SIMD_OPS, skipInstruction } from "./wasm-instructions.js";

/**
 * Refuses modules whose instructions may give different results on different machines, which
 * would make replicas that re-execute the same command disagree (docs/abi.md, section 6):
 *
 * - relaxed SIMD (its results are implementation-defined by design);
 * - atomics (the threads proposal: with shared memory, which `capMemories` already refuses, the
 *   interleaving of threads decides the result; a cartridge never needs them without it).
 *
 * Runs on the raw bytes BEFORE the engine compiles them, so the refusal is the same whether or not
 * this Node's V8 enables a proposal (Node 20 rejects relaxed SIMD without a flag, accepts atomics).
 * Bytes this scan cannot parse are left to the compiler, which reports them as `Compile`.
 */
export function checkPortableInstructions(bytes: Uint8Array, source: string): void {
  let problem: string | undefined;
  try {
    problem = findNonPortableInstruction(bytes);
  } catch (error) {
    if (error instanceof WasmFormatError) return;
    throw error;
  }
  if (problem !== undefined) throw new LoadError("Nondeterministic", problem, source);
}

/** Describes the first non-portable instruction of the module, or undefined when there is none. */
export function findNonPortableInstruction(bytes: Uint8Array): string | undefined {
  const code = readSections(bytes).find((section) => section.id === SectionId.code);
  if (code === undefined) return undefined;
  const reader = new ByteReader(code.payload);
  const count = reader.u32();
  for (let index = 0; index < count; index++) {
    const size = reader.u32();
    const end = reader.offset + size;
    if (end > code.payload.byteLength) throw new WasmFormatError("function body past the section");
    const problem = scanBody(new ByteReader(code.payload, reader.offset, end));
    if (problem !== undefined) return `function ${index} (defined) uses ${problem}`;
    reader.offset = end;
  }
  return undefined;
}

function scanBody(reader: ByteReader): string | undefined {
  const localGroups = reader.u32();
  for (let i = 0; i < localGroups; i++) {
    reader.u32();
    const type = reader.byte();
    if (type === 0x63 || type === 0x64) reader.s33();
  }
  while (!reader.done) {
    const at = reader.offset;
    const op = skipInstruction(reader);
    if (op !== Prefix.simd && op !== Prefix.atomic) continue;
    const sub = new ByteReader(reader.bytes, at + 1, reader.end).u32();
    const hex = `0x${op.toString(16)} 0x${sub.toString(16)}`;
    if (op === Prefix.atomic) {
      return `an atomic instruction (${hex}); threads and atomics are not allowed`;
    }
    if (sub >= RELAXED_SIMD_OPS.first && sub <= RELAXED_SIMD_OPS.last) {
      return `a relaxed-SIMD instruction (${hex}), whose result differs between machines`;
    }
  }
  return undefined;
}
