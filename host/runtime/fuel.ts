import { CodeMapBuilder } from "./code-map.js";
import { instrumentBody, type Meter } from "./fuel-body.js";
import {
  ByteReader,
  ByteWriter,
  type Section,
  SectionId,
  sectionRank,
  WasmFormatError,
} from "./wasm-binary.js";
import type { FuncType, WasmModuleInfo } from "./wasm-module-info.js";

/**
 * Deterministic fuel metering by rewriting the code section.
 *
 * Every instruction costs its weight (fuel-costs.ts) and every bulk memory operation its byte
 * count, from an i64 global the host sets before each call; when it drops below zero the module
 * executes `unreachable` (fuel-body.ts says where it is charged and checked). The cost therefore
 * depends only on the code and its inputs, so a call runs out of fuel at the same point on every
 * machine, which replicas re-executing steps rely on.
 *
 * Call depth is counted the same way (incremented on entry, decremented on every exit) and capped,
 * because the engine's own stack limit depends on the machine: without the cap an infinitely
 * recursive cartridge would hit a RangeError at a machine-dependent depth instead of failing
 * deterministically. Only functions that call other functions are counted: a leaf function adds
 * at most one frame, so leaving it out keeps the bound and saves two global updates per call.
 *
 * Inserting straight-line code is safe because branch targets are relative label depths: the body
 * is wrapped in one extra `block` (so a `br` to the function label lands before the exit code),
 * and the checks inserted after a `loop`'s block type open and close their own `if`, so the
 * labels of the original code keep their depths. Exceptions (if a module uses them) skip a
 * callee's exit code; the fuel it used is then not charged, which is still deterministic.
 */

/** Prefix of every export the host adds; a cartridge may not export names that start with it. */
export const RESERVED_EXPORT_PREFIX = "__cartridge_";

/**
 * Export names the instrumenter adds; a cartridge may not use them itself. The counters are
 * internal globals read through functions rather than exported globals, because V8 keeps an
 * exported mutable global behind an extra indirection that every metered entry would pay for.
 */
export const FuelExport = {
  /** `() -> i64`: fuel left (negative after running out). */
  fuel: "__cartridge_fuel",
  /** `() -> i32`: current call depth (above the cap after running out). */
  depth: "__cartridge_depth",
  /** `(fuel: f64) -> ()`: sets the fuel and clears the depth (numbers avoid BigInt per call). */
  setFuel: "__cartridge_set_fuel",
  /**
   * The module's start function, if it has one. The instrumenter removes the start section and
   * the host calls this right after instantiation instead, with the start budget set, so that a
   * start function that runs out of fuel is told apart from one that traps.
   */
  start: "__cartridge_start",
} as const;

export interface FuelOptions {
  /** Fuel in the counter before the host first sets it. */
  readonly initialFuel: number;
  readonly maxCallDepth: number;
}

const I32 = 0x7f;
const I64 = 0x7e;
const F64 = 0x7c;

function globalIndex(writer: ByteWriter, op: number, index: number): void {
  writer.byte(op).u32(index);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((v, i) => v === b[i]);
}

/** Collects the type section, adding types on demand. */
class TypeTable {
  private readonly added: Uint8Array[] = [];

  constructor(private readonly types: readonly FuncType[]) {}

  /** Index of a type with no params and these encoded results, adding one if needed. */
  blockType(rawResults: Uint8Array): number {
    const empty = Uint8Array.of(0);
    const existing = this.types.findIndex(
      (t) => t.params.length === 0 && sameBytes(t.rawResults, rawResults),
    );
    if (existing >= 0) return existing;
    return this.add(new ByteWriter().byte(0x60).bytes(empty).bytes(rawResults).finish());
  }

  add(encoded: Uint8Array): number {
    const found = this.added.findIndex((t) => sameBytes(t, encoded));
    if (found >= 0) return this.types.length + found;
    this.added.push(encoded);
    return this.types.length + this.added.length - 1;
  }

  appendTo(original: Uint8Array | undefined): Uint8Array {
    return appendEntries(original, this.added);
  }
}

/** Appends encoded entries to a vector section payload (or creates one). */
function appendEntries(
  original: Uint8Array | undefined,
  entries: readonly Uint8Array[],
): Uint8Array {
  const reader = new ByteReader(original ?? Uint8Array.of(0));
  const count = reader.u32();
  const writer = new ByteWriter().u32(count + entries.length);
  writer.bytes(reader.bytes.subarray(reader.offset));
  for (const entry of entries) writer.bytes(entry);
  return writer.finish();
}

function blockTypeFor(type: FuncType, table: TypeTable): Uint8Array {
  if (type.results.length === 0) return Uint8Array.of(0x40);
  // A single result whose encoding is one byte (a number or a plain reference type) is its own
  // block type; anything else needs a function type index.
  if (type.rawResults.byteLength === 2) return type.rawResults.subarray(1);
  return new ByteWriter().s32(table.blockType(type.rawResults)).finish();
}

function instrumentCode(
  payload: Uint8Array,
  info: WasmModuleInfo,
  table: TypeTable,
  meter: Meter,
  extraBodies: readonly Uint8Array[],
  hostCalled: ReadonlySet<number>,
  codeMap: CodeMapBuilder,
): Uint8Array {
  const reader = new ByteReader(payload);
  const count = reader.u32();
  const out = new ByteWriter().u32(count + extraBodies.length);
  for (let i = 0; i < count; i++) {
    const size = reader.u32();
    const body = payload.subarray(reader.offset, reader.offset + size);
    reader.skip(size);
    const typeIndex = info.functionTypes[info.importedFunctions + i];
    const type = typeIndex === undefined ? undefined : info.types[typeIndex];
    if (type === undefined) throw new WasmFormatError(`function ${i} has no type`);
    const index = info.importedFunctions + i;
    const plan = {
      params: type.params.length,
      exported: hostCalled.has(index),
      blockType: blockTypeFor(type, table),
    };
    codeMap.beginFunction(reader.offset - size);
    const rewritten = instrumentBody(body, plan, meter, (m, o, n) => codeMap.run(m, o, n));
    out.u32(rewritten.byteLength);
    codeMap.placeFunction(out.length);
    out.bytes(rewritten);
  }
  for (const body of extraBodies) out.u32(body.byteLength).bytes(body);
  return out.finish();
}

function exportEntry(name: string, kind: number, index: number): Uint8Array {
  return new ByteWriter().name(name).byte(kind).u32(index).finish();
}

/** Returns the sections of the module with fuel and call-depth metering added. */
export function instrumentFuel(info: WasmModuleInfo, options: FuelOptions): Section[] {
  return instrumentFuelMapped(info, options).sections;
}

/**
 * The metered sections, and the runs of original code each rewritten body copied (offsets
 * relative to the code section payloads; `CodeMapBuilder.finish` makes them module offsets once
 * the module is written).
 */
export function instrumentFuelMapped(
  info: WasmModuleInfo,
  options: FuelOptions,
): { sections: Section[]; codeMap: CodeMapBuilder } {
  for (const e of info.exports) {
    // The whole prefix is reserved (docs/abi.md, section 7), so later host exports never clash.
    if (e.name.startsWith(RESERVED_EXPORT_PREFIX)) {
      throw new WasmFormatError(
        `export name ${e.name} is reserved for the host (names starting with ${RESERVED_EXPORT_PREFIX})`,
      );
    }
  }
  const fuelGlobal = info.importedGlobals + info.definedGlobals;
  const depthGlobal = fuelGlobal + 1;
  const setFuelFunction = info.functionTypes.length;
  const meter: Meter = {
    fuelGlobal,
    depthGlobal,
    maxCallDepth: options.maxCallDepth,
    importedFunctions: info.importedFunctions,
  };
  const table = new TypeTable(info.types);
  const setFuelType = table.add(Uint8Array.of(0x60, 1, F64, 0));
  const getI64Type = table.add(Uint8Array.of(0x60, 0, 1, I64));
  const getI32Type = table.add(Uint8Array.of(0x60, 0, 1, I32));

  const setFuelBody = new ByteWriter().byte(0); // no locals
  setFuelBody.byte(0x20).byte(0).byte(0xb0); // local.get 0; i64.trunc_f64_s
  globalIndex(setFuelBody, 0x24, fuelGlobal);
  setFuelBody.byte(0x41).byte(0);
  globalIndex(setFuelBody, 0x24, depthGlobal);
  setFuelBody.byte(0x0b);
  const getter = (global: number) => {
    const w = new ByteWriter().byte(0);
    globalIndex(w, 0x23, global);
    return w.byte(0x0b).finish();
  };

  const initialFuel = Math.max(0, Math.floor(options.initialFuel));
  const globals = [
    new ByteWriter()
      .byte(I64)
      .byte(1)
      .byte(0x42)
      .bytes(signedLeb64(BigInt(initialFuel)))
      .byte(0x0b)
      .finish(),
    new ByteWriter().byte(I32).byte(1).byte(0x41).byte(0).byte(0x0b).finish(),
  ];
  const exports = [
    exportEntry(FuelExport.setFuel, 0, setFuelFunction),
    exportEntry(FuelExport.fuel, 0, setFuelFunction + 1),
    exportEntry(FuelExport.depth, 0, setFuelFunction + 2),
  ];
  // Functions the host calls check their fuel on exit, so a call that returns never overdrew.
  const hostCalled = new Set(info.exports.filter((e) => e.kind === "function").map((e) => e.index));
  const startSection = info.sections.find((section) => section.id === SectionId.start);
  if (startSection !== undefined) {
    const start = new ByteReader(startSection.payload).u32();
    hostCalled.add(start);
    exports.push(exportEntry(FuelExport.start, 0, start));
  }

  const byId = new Map<number, Uint8Array>();
  for (const s of info.sections) if (s.id !== SectionId.custom) byId.set(s.id, s.payload);
  const code = byId.get(SectionId.code);
  if (code === undefined) throw new WasmFormatError("module has no code section");
  // The code section must be rewritten first: it may add block types to the type table.
  const codeMap = new CodeMapBuilder(info.importedFunctions);
  const newCode = instrumentCode(
    code,
    info,
    table,
    meter,
    [setFuelBody.finish(), getter(fuelGlobal), getter(depthGlobal)],
    hostCalled,
    codeMap,
  );
  const replaced = new Map<number, Uint8Array>([
    [SectionId.code, newCode],
    [SectionId.type, table.appendTo(byId.get(SectionId.type))],
    [
      SectionId.function,
      appendEntries(
        byId.get(SectionId.function),
        [setFuelType, getI64Type, getI32Type].map((t) => new ByteWriter().u32(t).finish()),
      ),
    ],
    [SectionId.global, appendEntries(byId.get(SectionId.global), globals)],
    [SectionId.export, appendEntries(byId.get(SectionId.export), exports)],
  ]);
  const sections = replaceSections(info.sections, replaced).filter((s) => s.id !== SectionId.start);
  return { sections, codeMap };
}

/** Replaces sections by id, inserting missing ones at their place in the canonical order. */
export function replaceSections(
  sections: readonly Section[],
  replaced: ReadonlyMap<number, Uint8Array>,
): Section[] {
  const pending = new Map(replaced);
  const result: Section[] = [];
  const flushBefore = (rank: number) => {
    for (const [id, payload] of [...pending].sort(
      (a, b) => sectionRank(a[0]) - sectionRank(b[0]),
    )) {
      if (sectionRank(id) < rank) {
        result.push({ id, payload });
        pending.delete(id);
      }
    }
  };
  for (const section of sections) {
    if (section.id === SectionId.custom) {
      result.push(section);
      continue;
    }
    flushBefore(sectionRank(section.id));
    const payload = pending.get(section.id);
    if (payload !== undefined) {
      pending.delete(section.id);
      result.push({ id: section.id, payload });
    } else {
      result.push(section);
    }
  }
  flushBefore(Number.POSITIVE_INFINITY);
  return result;
}

function signedLeb64(value: bigint): Uint8Array {
  const out: number[] = [];
  let v = value;
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return Uint8Array.from(out);
  }
}
