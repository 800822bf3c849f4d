import {
  ByteReader,
  readSections,
  type Section,
  SectionId,
  WasmFormatError,
} from "./wasm-binary.js";

/** Value types by their binary code, as the host names them in messages. */
const VALUE_TYPE_NAMES: Record<number, string> = {
  127: "i32",
  126: "i64",
  125: "f32",
  124: "f64",
  123: "v128",
  112: "funcref",
  111: "externref",
};

/** A function type, with value types written as their names (`i32`, `f64`, ...). */
export interface FuncType {
  readonly params: readonly string[];
  readonly results: readonly string[];
  /** The result types exactly as encoded (count included), for building block types. */
  readonly rawResults: Uint8Array;
}

/** Memory limits in pages; `maxPages` is undefined when the module declares none. */
export interface MemoryLimits {
  readonly initialPages: number;
  readonly maxPages: number | undefined;
  readonly shared: boolean;
  readonly memory64: boolean;
}

/** An export entry; `kind` uses the JS API's names. */
export interface ExportEntry {
  readonly name: string;
  readonly kind: "function" | "table" | "memory" | "global" | "tag";
  readonly index: number;
}

/** What the loader needs to know about a module's structure, read from its sections. */
export interface WasmModuleInfo {
  readonly sections: readonly Section[];
  readonly types: readonly FuncType[];
  readonly importedFunctions: number;
  readonly importedGlobals: number;
  /** Type index of every function, imported ones first. */
  readonly functionTypes: readonly number[];
  readonly definedGlobals: number;
  /** Defined memories (an imported memory is not allowed by the ABI). */
  readonly memories: readonly MemoryLimits[];
  readonly exports: readonly ExportEntry[];
}

const EXTERNAL_KINDS = ["function", "table", "memory", "global", "tag"] as const;

function valueType(reader: ByteReader): string {
  const code = reader.byte();
  const name = VALUE_TYPE_NAMES[code];
  if (name !== undefined) return name;
  if (code === 0x63 || code === 0x64) {
    // A typed reference (function references / GC): the heap type follows.
    reader.s33();
    return "ref";
  }
  throw new WasmFormatError(`unsupported value type 0x${code.toString(16)}`);
}

function valueTypes(reader: ByteReader): string[] {
  const count = reader.u32();
  const result: string[] = [];
  for (let i = 0; i < count; i++) result.push(valueType(reader));
  return result;
}

/** Reads memory or table limits. */
export function readLimits(reader: ByteReader): MemoryLimits {
  const flags = reader.byte();
  if (flags > 7) throw new WasmFormatError(`unsupported limits flags 0x${flags.toString(16)}`);
  const memory64 = (flags & 4) !== 0;
  const read = () => (memory64 ? readU64AsNumber(reader) : reader.u32());
  const initialPages = read();
  const maxPages = (flags & 1) !== 0 ? read() : undefined;
  return { initialPages, maxPages, shared: (flags & 2) !== 0, memory64 };
}

function readU64AsNumber(reader: ByteReader): number {
  let result = 0;
  let shift = 0;
  let b: number;
  do {
    b = reader.byte();
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while ((b & 0x80) !== 0);
  return result;
}

function skipConstExpr(reader: ByteReader): void {
  // Constant expressions in MVP modules are a single instruction followed by `end`; extended
  // constant expressions chain a few more. Scan to the `end` opcode, skipping immediates.
  for (;;) {
    const op = reader.byte();
    if (op === 0x0b) return;
    if (op === 0x41 || op === 0x42 || op === 0x23 || op === 0xd2) reader.skipLeb();
    else if (op === 0x43) reader.skip(4);
    else if (op === 0x44) reader.skip(8);
    else if (op === 0xd0) reader.s33();
    else if (op === 0xfd) {
      reader.u32();
      reader.skip(16);
    } else if (op < 0x6a || op > 0x7e) {
      throw new WasmFormatError(`unsupported constant expression opcode 0x${op.toString(16)}`);
    }
  }
}

/** Parses the sections of a module the engine has already validated. */
export function readModuleInfo(bytes: Uint8Array): WasmModuleInfo {
  const sections = readSections(bytes);
  const types: FuncType[] = [];
  const functionTypes: number[] = [];
  const memories: MemoryLimits[] = [];
  const exports: ExportEntry[] = [];
  let importedFunctions = 0;
  let importedGlobals = 0;
  let definedGlobals = 0;

  for (const section of sections) {
    const reader = new ByteReader(section.payload);
    switch (section.id) {
      case SectionId.type: {
        const count = reader.u32();
        for (let i = 0; i < count; i++) {
          const form = reader.byte();
          if (form !== 0x60) {
            throw new WasmFormatError(`unsupported type form 0x${form.toString(16)}`);
          }
          const params = valueTypes(reader);
          const resultsStart = reader.offset;
          const results = valueTypes(reader);
          const rawResults = section.payload.slice(resultsStart, reader.offset);
          types.push({ params, results, rawResults });
        }
        break;
      }
      case SectionId.import: {
        const count = reader.u32();
        for (let i = 0; i < count; i++) {
          reader.name();
          reader.name();
          const kind = reader.byte();
          if (kind === 0) {
            functionTypes.push(reader.u32());
            importedFunctions++;
          } else if (kind === 1) {
            valueType(reader);
            readLimits(reader);
          } else if (kind === 2) {
            readLimits(reader);
          } else if (kind === 3) {
            valueType(reader);
            reader.byte();
            importedGlobals++;
          } else if (kind === 4) {
            reader.byte();
            reader.u32();
          } else {
            throw new WasmFormatError(`unsupported import kind ${kind}`);
          }
        }
        break;
      }
      case SectionId.function: {
        const count = reader.u32();
        for (let i = 0; i < count; i++) functionTypes.push(reader.u32());
        break;
      }
      case SectionId.memory: {
        const count = reader.u32();
        for (let i = 0; i < count; i++) memories.push(readLimits(reader));
        break;
      }
      case SectionId.global: {
        const count = reader.u32();
        for (let i = 0; i < count; i++) {
          valueType(reader);
          reader.byte();
          skipConstExpr(reader);
        }
        definedGlobals = count;
        break;
      }
      case SectionId.export: {
        const count = reader.u32();
        for (let i = 0; i < count; i++) {
          const name = reader.name();
          const kindCode = reader.byte();
          const kind = EXTERNAL_KINDS[kindCode];
          if (kind === undefined) throw new WasmFormatError(`unsupported export kind ${kindCode}`);
          exports.push({ name, kind, index: reader.u32() });
        }
        break;
      }
      default:
        break;
    }
  }
  return {
    sections,
    types,
    importedFunctions,
    importedGlobals,
    functionTypes,
    definedGlobals,
    memories,
    exports,
  };
}

/** The signature of an exported function, or undefined when there is no such function export. */
export function exportedFunctionType(info: WasmModuleInfo, name: string): FuncType | undefined {
  const entry = info.exports.find((e) => e.name === name && e.kind === "function");
  if (entry === undefined) return undefined;
  const typeIndex = info.functionTypes[entry.index];
  return typeIndex === undefined ? undefined : info.types[typeIndex];
}

/** Writes a signature the way the ABI document does: `(i64, i32) -> i32`. */
export function formatFuncType(type: FuncType): string {
  const results = type.results.length === 1 ? type.results[0] : `(${type.results.join(", ")})`;
  return `(${type.params.join(", ")}) -> ${results}`;
}
