import { createHash } from "node:crypto";
import {
  ALLOWED_IMPORT,
  EXPORT_SIGNATURES,
  LEGAL_ACTIONS_EXPORT,
  REQUIRED_EXPORTS,
} from "./abi.js";
import { type CodeMap, codeSectionOffset } from "./code-map.js";
import { LoadError } from "./errors.js";
import type { RecordSizes } from "./exchange-layout.js";
import { instrumentFuelMapped, replaceSections } from "./fuel.js";
import type { GuestFacts, ProbeRequest } from "./guest-facts.js";
import { type LoadProbe, sharedLoadProbe } from "./load-probe.js";
import type { CartridgeManifest } from "./manifest.js";
import { capMemories } from "./memory-cap.js";
import { checkPortableInstructions } from "./portable-instructions.js";
import { type LoadOptions, resolveLimits, type SandboxLimits } from "./sandbox-options.js";
import { acceptedSourceMap } from "./source-map.js";
import { SectionId, WasmFormatError, writeSections } from "./wasm-binary.js";
import {
  exportedFunctionType,
  formatFuncType,
  readModuleInfo,
  type WasmModuleInfo,
} from "./wasm-module-info.js";

/** A module that passed every load-time check, compiled with fuel metering. */
export interface LoadedCartridge {
  readonly manifest: CartridgeManifest;
  /** Hex sha256 of the original module bytes. */
  readonly buildId: string;
  readonly source: string;
  /** The instrumented module; instantiate it with `instantiateSandboxed`. */
  readonly module: WebAssembly.Module;
  readonly limits: SandboxLimits;
  readonly sizes: RecordSizes;
  /** Absolute address and length of the exchange region. */
  readonly exchange: { readonly ptr: number; readonly len: number };
  readonly hasLegalActions: boolean;
  /** Largest batch step, bounded by the exchange region and `limits.maxBatch`. */
  readonly maxBatch: number;
  /** Largest rollout step cap, bounded by the exchange region. */
  readonly maxRolloutSteps: number;
  /** What turns a trap's position back into the author's terms (trap-report.ts). */
  readonly debug: CartridgeDebug;
}

/**
 * How to locate a trap in the author's module and source. Plain data: it crosses to the workers
 * with the rest of the build.
 */
export interface CartridgeDebug {
  /** Metered offsets to original offsets. */
  readonly codeMap: CodeMap;
  /** The text of the module's source map (`cartridge build --debug`), when one was supplied. */
  readonly sourceMap?: string;
}

/** Makes V8's compile messages readable for someone who just built a cartridge. */
function compileMessage(error: unknown): string {
  const raw = error instanceof Error ? error.message : String(error);
  const detail = raw.replace(/^WebAssembly\.\w+\(\): /, "");
  if (/magic word|expected version/.test(detail)) {
    return `not a WebAssembly module (wrong header: ${detail})`;
  }
  if (/fell off end|shorter than expected|unexpected end|extends past end/i.test(detail)) {
    return `truncated or corrupt WebAssembly module (${detail})`;
  }
  return `invalid WebAssembly module: ${detail}`;
}

/** The bytes as an `ArrayBuffer`-backed view, copying only when they live in shared memory. */
function ownedBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer
    ? (bytes as Uint8Array<ArrayBuffer>)
    : new Uint8Array(bytes);
}

async function compile(bytes: Uint8Array, source: string): Promise<WebAssembly.Module> {
  try {
    return await WebAssembly.compile(ownedBytes(bytes));
  } catch (cause) {
    throw new LoadError("Compile", compileMessage(cause), source, { cause });
  }
}

function checkImports(module: WebAssembly.Module, source: string): void {
  for (const entry of WebAssembly.Module.imports(module)) {
    const allowed =
      entry.module === ALLOWED_IMPORT.module &&
      entry.name === ALLOWED_IMPORT.name &&
      entry.kind === "function";
    if (!allowed) {
      throw new LoadError(
        "ForbiddenImport",
        `forbidden import ${entry.module}.${entry.name} (${entry.kind}); a cartridge may import only ${ALLOWED_IMPORT.module}.${ALLOWED_IMPORT.name}`,
        source,
      );
    }
  }
}

function checkExports(info: WasmModuleInfo, source: string): void {
  const memory = info.exports.find((e) => e.name === "memory");
  if (memory === undefined || memory.kind !== "memory") {
    throw new LoadError(
      "MissingExport",
      memory === undefined
        ? "missing export memory (the linear memory)"
        : `export memory must be a memory, not a ${memory.kind}`,
      source,
    );
  }
  for (const name of [...REQUIRED_EXPORTS, LEGAL_ACTIONS_EXPORT]) {
    const entry = info.exports.find((e) => e.name === name);
    const expected = EXPORT_SIGNATURES[name] ?? "";
    if (entry === undefined) {
      if (name === LEGAL_ACTIONS_EXPORT) continue;
      throw new LoadError("MissingExport", `missing export ${name} ${expected}`, source);
    }
    if (entry.kind !== "function") {
      throw new LoadError(
        "MissingExport",
        `export ${name} must be a function ${expected}, not a ${entry.kind}`,
        source,
      );
    }
    const type = exportedFunctionType(info, name);
    const actual = type === undefined ? "unknown" : formatFuncType(type);
    if (actual !== expected) {
      throw new LoadError(
        "MissingExport",
        `export ${name} has signature ${actual}; expected ${expected}`,
        source,
      );
    }
  }
}

function instrument(
  bytes: Uint8Array,
  limits: SandboxLimits,
  source: string,
): { info: WasmModuleInfo; instrumented: Uint8Array; codeMap: CodeMap } {
  let info: WasmModuleInfo;
  try {
    info = readModuleInfo(bytes);
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    throw new LoadError("Compile", `unsupported WebAssembly module: ${message}`, source, { cause });
  }
  checkExports(info, source);
  const memorySection = capMemories(info, limits.maxMemoryPages, source);
  try {
    const metered = instrumentFuelMapped(info, {
      // The start function (a language runtime's set-up) has its own budget, so that a host
      // running with a tiny per-step budget can still instantiate ordinary modules.
      initialFuel: limits.startBudgetFuel,
      maxCallDepth: limits.maxCallDepth,
    });
    let sections = metered.sections;
    if (memorySection !== undefined) {
      sections = replaceSections(sections, new Map([[SectionId.memory, memorySection]]));
    }
    const instrumented = writeSections(sections);
    const codeMap = metered.codeMap.finish(
      codeSectionOffset(instrumented),
      codeSectionOffset(bytes),
    );
    return { info, instrumented, codeMap };
  } catch (cause) {
    if (!(cause instanceof WasmFormatError)) throw cause;
    throw new LoadError("Compile", `cannot meter this module: ${cause.message}`, source, { cause });
  }
}

/** Runs the guest half of loading in `prober`; its load errors are named after `source`. */
async function probe(
  prober: GuestProber,
  request: ProbeRequest,
  source: string,
): Promise<GuestFacts> {
  try {
    return await prober.run(request);
  } catch (error) {
    if (!(error instanceof LoadError) || error.source !== undefined) throw error;
    throw new LoadError(error.code, error.message, source, { cause: error });
  }
}

/** Where the guest half of loading runs: a `LoadProbe` (the default is the process's). */
export type GuestProber = Pick<LoadProbe, "run">;

/**
 * Checks, meters and compiles a cartridge module. Every rejection is a `LoadError` whose code says
 * what was wrong (docs/abi.md, section 8) and whose message names the offending part. The checks
 * and compiles run here; the one step that runs guest code (the start function, the constant
 * exports) runs in `options.probe`, by default the process's shared `LoadProbe` (a worker
 * thread), so a load never blocks the caller's event loop on guest code.
 */
export async function loadCartridge(
  bytes: Uint8Array,
  options: LoadOptions & { source?: string; sourceMap?: string; probe?: GuestProber } = {},
): Promise<LoadedCartridge> {
  const source = options.source ?? "<memory>";
  const limits = resolveLimits(options);
  if (bytes.byteLength > limits.maxModuleBytes) {
    throw new LoadError(
      "TooLarge",
      `module is ${bytes.byteLength} bytes; the limit is ${limits.maxModuleBytes}`,
      source,
    );
  }
  checkPortableInstructions(bytes, source);
  const original = await compile(bytes, source);
  checkImports(original, source);
  const { info, instrumented, codeMap } = instrument(bytes, limits, source);
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(ownedBytes(instrumented));
  } catch (cause) {
    throw new LoadError(
      "Compile",
      `metered module failed to compile (a host bug): ${compileMessage(cause)}`,
      source,
      { cause },
    );
  }
  const hasLegalActions = info.exports.some((e) => e.name === LEGAL_ACTIONS_EXPORT);
  const facts = await probe(
    options.probe ?? sharedLoadProbe(),
    { module, limits, hasLegalActions },
    source,
  );
  const sourceMap = acceptedSourceMap(info.sections, options.sourceMap);
  return {
    manifest: facts.manifest,
    buildId: createHash("sha256").update(bytes).digest("hex"),
    source,
    module,
    limits,
    sizes: facts.sizes,
    exchange: facts.exchange,
    hasLegalActions,
    maxBatch: facts.maxBatch,
    maxRolloutSteps: facts.maxRolloutSteps,
    debug: sourceMap === undefined ? { codeMap } : { codeMap, sourceMap },
  };
}
