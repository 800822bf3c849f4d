import { createHash } from "node:crypto";
import {
  ABI_VERSION,
  ALLOWED_IMPORT,
  infoBytes,
  LEGAL_ACTIONS_EXPORT,
  REQUIRED_EXPORTS,
} from "./abi.js";
import { type CodeMap, codeSectionOffset } from "./code-map.js";
import { CallError, LoadError } from "./errors.js";
import {
  batchLayout,
  largestFitting,
  type RecordSizes,
  rolloutLayout,
  singleLayout,
} from "./exchange-layout.js";
import { FuelExport, instrumentFuelMapped, replaceSections } from "./fuel.js";
import {
  type CartridgeManifest,
  legalMaskBytes,
  MANIFEST_MAX_BYTES,
  parseManifest,
} from "./manifest.js";
import { capMemories } from "./memory-cap.js";
import { checkPortableInstructions } from "./portable-instructions.js";
import {
  type CartridgeExports,
  classifyFailure,
  instantiateSandboxed,
} from "./sandbox-instantiate.js";
import {
  type LoadOptions,
  MAX_ROLLOUT_STEPS,
  resolveLimits,
  type SandboxLimits,
} from "./sandbox-options.js";
import { acceptedSourceMap } from "./source-map.js";
import { SectionId, WasmFormatError, writeSections } from "./wasm-binary.js";
import {
  exportedFunctionType,
  formatFuncType,
  readModuleInfo,
  type WasmModuleInfo,
} from "./wasm-module-info.js";

/** Largest exchange region the ABI allows, in bytes. */
export const EXCHANGE_MAX_BYTES = 16 * 1024 * 1024;

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

const CONSTANT_SIGNATURE = "() -> i32";
const SIGNATURES: Record<string, string> = {
  cartridge_abi_version: CONSTANT_SIGNATURE,
  cartridge_manifest_ptr: CONSTANT_SIGNATURE,
  cartridge_manifest_len: CONSTANT_SIGNATURE,
  cartridge_exchange_ptr: CONSTANT_SIGNATURE,
  cartridge_exchange_len: CONSTANT_SIGNATURE,
  cartridge_reset: "(i64, i32, i32, i32, i32, i32) -> i32",
  cartridge_step: "(i32, i32, i32, i32, i32) -> i32",
  cartridge_step_batch: "(i32, i32, i32, i32, i32, i32) -> i32",
  cartridge_rollout: "(i64, i32, i32, i32, i32, i32, i32) -> i32",
  [LEGAL_ACTIONS_EXPORT]: "(i32, i32) -> i32",
};

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
    const expected = SIGNATURES[name] ?? "";
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

function instantiateForCheck(
  module: WebAssembly.Module,
  limits: SandboxLimits,
  source: string,
): CartridgeExports {
  try {
    return instantiateSandboxed(module, limits).exports;
  } catch (cause) {
    if (cause instanceof CallError) {
      // The start function ran: out of fuel (or call depth) is its own code; a trap is a Link.
      const code = cause.code === "BudgetExceeded" ? "BudgetExceeded" : "Link";
      throw new LoadError(code, cause.message, source, { cause });
    }
    const message =
      cause instanceof Error ? cause.message.replace(/^WebAssembly\.\w+\(\): /, "") : String(cause);
    throw new LoadError("Link", `instantiation failed: ${message}`, source, { cause });
  }
}

/** Calls one of the constant exports with a fresh budget, as an unsigned number. */
function callConstant(
  exports: CartridgeExports,
  name: (typeof REQUIRED_EXPORTS)[number],
  limits: SandboxLimits,
  source: string,
): number {
  exports[FuelExport.setFuel](limits.startBudgetFuel);
  try {
    const fn = exports[name] as () => number;
    return fn() >>> 0;
  } catch (error) {
    const failure = classifyFailure(
      error,
      exports,
      { fuel: limits.startBudgetFuel, maxCallDepth: limits.maxCallDepth },
      name,
    );
    throw new LoadError("Link", failure.message, source, { cause: error });
  }
}

function readManifest(
  exports: CartridgeExports,
  limits: SandboxLimits,
  source: string,
): CartridgeManifest {
  const ptr = callConstant(exports, "cartridge_manifest_ptr", limits, source);
  const len = callConstant(exports, "cartridge_manifest_len", limits, source);
  const memoryBytes = exports.memory.buffer.byteLength;
  if (len > MANIFEST_MAX_BYTES) {
    throw new LoadError(
      "BadManifest",
      `manifest is ${len} bytes; the limit is ${MANIFEST_MAX_BYTES}`,
      source,
    );
  }
  if (ptr + len > memoryBytes) {
    throw new LoadError(
      "BadManifest",
      `manifest [${ptr}, ${ptr + len}) lies outside the ${memoryBytes}-byte memory`,
      source,
    );
  }
  return parseManifest(new Uint8Array(exports.memory.buffer, ptr, len).slice(), source);
}

function checkExchange(
  exports: CartridgeExports,
  sizes: RecordSizes,
  limits: SandboxLimits,
  source: string,
): { ptr: number; len: number; maxBatch: number; maxRolloutSteps: number } {
  const ptr = callConstant(exports, "cartridge_exchange_ptr", limits, source);
  const len = callConstant(exports, "cartridge_exchange_len", limits, source);
  const memoryBytes = exports.memory.buffer.byteLength;
  const problem = (text: string) =>
    new LoadError("BadManifest", `exchange region: ${text}`, source);
  if (ptr % 16 !== 0) throw problem(`address ${ptr} is not 16-byte aligned`);
  if (len > EXCHANGE_MAX_BYTES) throw problem(`${len} bytes; the limit is ${EXCHANGE_MAX_BYTES}`);
  if (ptr + len > memoryBytes) {
    throw problem(`[${ptr}, ${ptr + len}) lies outside the ${memoryBytes}-byte memory`);
  }
  const end = ptr + len;
  const single = singleLayout(ptr, sizes);
  if (single.end > end) {
    throw problem(
      `${len} bytes is too small for one reset and step with these manifest sizes (needs ${single.end - ptr})`,
    );
  }
  const maxBatch = largestFitting(limits.maxBatch, end, (n) => batchLayout(ptr, sizes, n));
  const maxRolloutSteps = largestFitting(MAX_ROLLOUT_STEPS, end, (n) =>
    rolloutLayout(ptr, sizes, n),
  );
  if (maxBatch < 1 || maxRolloutSteps < 1) {
    throw problem(`${len} bytes is too small for a batch or rollout of one`);
  }
  return { ptr, len, maxBatch, maxRolloutSteps };
}

/**
 * Checks, meters and compiles a cartridge module. Every rejection is a `LoadError` whose code says
 * what was wrong (docs/abi.md, section 8) and whose message names the offending part.
 */
export async function loadCartridge(
  bytes: Uint8Array,
  options: LoadOptions & { source?: string; sourceMap?: string } = {},
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
  const exports = instantiateForCheck(module, limits, source);
  const version = callConstant(exports, "cartridge_abi_version", limits, source);
  if (version !== ABI_VERSION) {
    throw new LoadError(
      "AbiVersion",
      `cartridge_abi_version() returned ${version}; this host speaks ABI ${ABI_VERSION}`,
      source,
    );
  }
  const manifest = readManifest(exports, limits, source);
  const hasLegalActions = info.exports.some((e) => e.name === LEGAL_ACTIONS_EXPORT);
  const maskBytes = legalMaskBytes(manifest.action_space);
  if (maskBytes > 0 && !hasLegalActions) {
    throw new LoadError(
      "MissingExport",
      `missing export ${LEGAL_ACTIONS_EXPORT} ${SIGNATURES[LEGAL_ACTIONS_EXPORT]} (required for a discrete or multi-discrete action space)`,
      source,
    );
  }
  const sizes: RecordSizes = {
    stateBytes: manifest.state_bytes,
    actionBytes: manifest.action_bytes,
    obsBytes: manifest.obs_bytes,
    infoBytes: infoBytes(manifest.players),
    hintMaxBytes: manifest.hint_max_bytes,
    legalMaskBytes: hasLegalActions ? maskBytes : 0,
  };
  const exchange = checkExchange(exports, sizes, limits, source);
  const sourceMap = acceptedSourceMap(info.sections, options.sourceMap);
  return {
    manifest,
    buildId: createHash("sha256").update(bytes).digest("hex"),
    source,
    module,
    limits,
    sizes,
    exchange: { ptr: exchange.ptr, len: exchange.len },
    hasLegalActions,
    maxBatch: exchange.maxBatch,
    maxRolloutSteps: exchange.maxRolloutSteps,
    debug: sourceMap === undefined ? { codeMap } : { codeMap, sourceMap },
  };
}
