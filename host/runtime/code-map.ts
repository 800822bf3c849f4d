import { readSections, SectionId } from "./wasm-binary.js";

/**
 * Where each instruction of the metered module came from in the original one.
 *
 * Fuel metering (fuel.ts) rewrites every function body: it inserts charges, checks and exit code
 * between runs of original instructions, which it copies byte for byte. V8 reports a trap's
 * position as a byte offset in the module it runs, the metered one, which no tool of the author
 * knows; this map turns it back into the offset in the module the author built, the offset a
 * source map (source-map.ts) or `wasm-objdump` of their file speaks of.
 *
 * Plain numbers in typed arrays, so it crosses to the worker threads with the compiled module.
 */
export interface CodeMap {
  /** Functions below this index are imports and have no body. */
  readonly importedFunctions: number;
  /** Module offset of each defined function's body (its locals), in the metered module. */
  readonly meteredStarts: Uint32Array;
  /** Module offset of each defined function's body in the original module. */
  readonly originalStarts: Uint32Array;
  /** Index of each defined function's first run; one more entry closes the last function. */
  readonly firstRun: Uint32Array;
  /** Copied runs, three numbers each: metered offset, original offset (both body-relative), length. */
  readonly runs: Uint32Array;
}

/**
 * Most runs kept for one module. A run is a stretch of original code between two insertions
 * (roughly one per call, loop, return and bulk operation), so this covers modules far past the
 * module size cap; the functions past it stay unmapped rather than making the map unbounded.
 */
export const MAX_CODE_MAP_RUNS = 1 << 20;

/** Collects the runs of one module while its bodies are rewritten, in function order. */
export class CodeMapBuilder {
  private readonly meteredStarts: number[] = [];
  private readonly originalStarts: number[] = [];
  private readonly firstRun: number[] = [];
  private runs: number[] = [];
  private count = 0;
  private full = false;

  constructor(private readonly importedFunctions: number) {}

  /**
   * Starts the next defined function, whose body starts at `originalStart` in the original code
   * section payload; `placeFunction` says where it landed once it is rewritten.
   */
  beginFunction(originalStart: number): void {
    this.meteredStarts.push(0);
    this.originalStarts.push(originalStart);
    this.firstRun.push(this.count);
  }

  /** The current function's rewritten body starts at `meteredStart` in the new payload. */
  placeFunction(meteredStart: number): void {
    this.meteredStarts[this.meteredStarts.length - 1] = meteredStart;
  }

  /** Records that the body bytes [original, original + length) were copied to `metered`. */
  run(metered: number, original: number, length: number): void {
    if (length === 0 || this.full) return;
    const last = this.runs.length - 3;
    // A copy split in two by an insertion of nothing (a zero-cost charge) is one run.
    if (
      last >= 0 &&
      this.count > (this.firstRun[this.firstRun.length - 1] ?? 0) &&
      (this.runs[last] as number) + (this.runs[last + 2] as number) === metered &&
      (this.runs[last + 1] as number) + (this.runs[last + 2] as number) === original
    ) {
      this.runs[last + 2] = (this.runs[last + 2] as number) + length;
      return;
    }
    if (this.count >= MAX_CODE_MAP_RUNS) {
      // Leave no function with a partial list: this one and every later one stay unmapped.
      this.full = true;
      this.count = this.firstRun[this.firstRun.length - 1] ?? 0;
      this.runs.length = 3 * this.count;
      return;
    }
    this.runs.push(metered, original, length);
    this.count++;
  }

  /**
   * The map, given where the two code section payloads start in their modules. When the run cap
   * was reached, the function being recorded then and every later one have no runs.
   */
  finish(meteredCodeOffset: number, originalCodeOffset: number): CodeMap {
    return {
      importedFunctions: this.importedFunctions,
      meteredStarts: Uint32Array.from(this.meteredStarts, (o) => o + meteredCodeOffset),
      originalStarts: Uint32Array.from(this.originalStarts, (o) => o + originalCodeOffset),
      firstRun: Uint32Array.from([...this.firstRun, this.count]),
      runs: Uint32Array.from(this.runs),
    };
  }
}

/**
 * The original module offset of the instruction at `meteredOffset` (module-relative, as in V8's
 * `wasm-function[109]:0xf22`) in function `functionIndex`. An offset inside code the metering
 * inserted maps to the original instruction the insertion precedes (the one it guards), or to
 * the end of the body after the last one. Undefined for imports, unknown functions, offsets
 * outside the function and functions past the run cap.
 */
export function originalOffset(
  map: CodeMap,
  functionIndex: number,
  meteredOffset: number,
): number | undefined {
  const defined = functionIndex - map.importedFunctions;
  if (!Number.isInteger(defined) || defined < 0 || defined >= map.meteredStarts.length) {
    return undefined;
  }
  const first = map.firstRun[defined] as number;
  const end = map.firstRun[defined + 1] as number;
  if (end <= first) return undefined;
  const relative = meteredOffset - (map.meteredStarts[defined] as number);
  const base = map.originalStarts[defined] as number;
  if (relative < 0) return undefined;
  // The last run starting at or before the offset (runs are in increasing metered order).
  let lo = first;
  let hi = end - 1;
  if (relative < (map.runs[3 * lo] as number)) return base + (map.runs[3 * lo + 1] as number);
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if ((map.runs[3 * mid] as number) <= relative) lo = mid;
    else hi = mid - 1;
  }
  const metered = map.runs[3 * lo] as number;
  const original = map.runs[3 * lo + 1] as number;
  const length = map.runs[3 * lo + 2] as number;
  if (relative < metered + length) return base + original + (relative - metered);
  if (lo + 1 < end) return base + (map.runs[3 * (lo + 1) + 1] as number);
  return base + original + length;
}

/** Where the code section's payload starts in a module's bytes (0 when it has none). */
export function codeSectionOffset(moduleBytes: Uint8Array): number {
  const code = readSections(moduleBytes).find((section) => section.id === SectionId.code);
  return code === undefined ? 0 : code.payload.byteOffset - moduleBytes.byteOffset;
}
