import {
  ABI_VERSION,
  EXCHANGE_MAX_BYTES,
  EXPORT_SIGNATURES,
  infoBytes,
  LEGAL_ACTIONS_EXPORT,
  type REQUIRED_EXPORTS,
} from "./abi.js";
import { CallError, LoadError } from "./errors.js";
import {
  batchLayout,
  largestFitting,
  type RecordSizes,
  rolloutLayout,
  singleLayout,
} from "./exchange-layout.js";
import { FuelExport } from "./fuel.js";
import {
  type CartridgeManifest,
  legalMaskBytes,
  MANIFEST_MAX_BYTES,
  parseManifest,
} from "./manifest.js";
import {
  type CartridgeExports,
  classifyFailure,
  instantiateSandboxed,
} from "./sandbox-instantiate.js";
import { MAX_ROLLOUT_STEPS, type SandboxLimits } from "./sandbox-options.js";

/**
 * The part of loading that runs guest code: instantiating the metered module (its start function
 * runs, under `startBudgetFuel`) and reading the constant exports, then checking what they say.
 * It runs in the load probe's worker (load-probe.ts), never on the event loop; everything here
 * crosses the thread boundary as plain data. Errors are `LoadError`s without a source (the
 * caller names the file).
 */

/** What the probe needs: a compiled, metered module and the facts the main thread already knows. */
export interface ProbeRequest {
  readonly module: WebAssembly.Module;
  readonly limits: SandboxLimits;
  /** Whether the module exports `cartridge_legal_actions` (read from its export section). */
  readonly hasLegalActions: boolean;
}

/** What running the module told the loader (plain data, structured-cloneable). */
export interface GuestFacts {
  readonly manifest: CartridgeManifest;
  readonly sizes: RecordSizes;
  /** Absolute address and length of the exchange region. */
  readonly exchange: { readonly ptr: number; readonly len: number };
  /** Largest batch step, bounded by the exchange region and `limits.maxBatch`. */
  readonly maxBatch: number;
  /** Largest rollout step cap, bounded by the exchange region. */
  readonly maxRolloutSteps: number;
}

/** Instantiates the module, runs its start function and reads and checks its constant exports. */
export function probeModule(request: ProbeRequest): GuestFacts {
  const { module, limits, hasLegalActions } = request;
  const exports = instantiateForCheck(module, limits);
  const version = callConstant(exports, "cartridge_abi_version", limits);
  if (version !== ABI_VERSION) {
    throw new LoadError(
      "AbiVersion",
      `cartridge_abi_version() returned ${version}; this host speaks ABI ${ABI_VERSION}`,
    );
  }
  const manifest = readManifest(exports, limits);
  const maskBytes = legalMaskBytes(manifest.action_space);
  if (maskBytes > 0 && !hasLegalActions) {
    throw new LoadError(
      "MissingExport",
      `missing export ${LEGAL_ACTIONS_EXPORT} ${EXPORT_SIGNATURES[LEGAL_ACTIONS_EXPORT]} (required for a discrete or multi-discrete action space)`,
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
  const exchange = checkExchange(exports, sizes, limits);
  return {
    manifest,
    sizes,
    exchange: { ptr: exchange.ptr, len: exchange.len },
    maxBatch: exchange.maxBatch,
    maxRolloutSteps: exchange.maxRolloutSteps,
  };
}

function instantiateForCheck(module: WebAssembly.Module, limits: SandboxLimits): CartridgeExports {
  try {
    return instantiateSandboxed(module, limits).exports;
  } catch (cause) {
    if (cause instanceof CallError) {
      // The start function ran: out of fuel (or call depth) is its own code; a trap is a Link.
      const code = cause.code === "BudgetExceeded" ? "BudgetExceeded" : "Link";
      throw new LoadError(code, cause.message, undefined, { cause });
    }
    const message =
      cause instanceof Error ? cause.message.replace(/^WebAssembly\.\w+\(\): /, "") : String(cause);
    throw new LoadError("Link", `instantiation failed: ${message}`, undefined, { cause });
  }
}

/** Calls one of the constant exports with a fresh budget, as an unsigned number. */
function callConstant(
  exports: CartridgeExports,
  name: (typeof REQUIRED_EXPORTS)[number],
  limits: SandboxLimits,
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
    throw new LoadError("Link", failure.message, undefined, { cause: error });
  }
}

function readManifest(exports: CartridgeExports, limits: SandboxLimits): CartridgeManifest {
  const ptr = callConstant(exports, "cartridge_manifest_ptr", limits);
  const len = callConstant(exports, "cartridge_manifest_len", limits);
  const memoryBytes = exports.memory.buffer.byteLength;
  if (len > MANIFEST_MAX_BYTES) {
    throw new LoadError(
      "BadManifest",
      `manifest is ${len} bytes; the limit is ${MANIFEST_MAX_BYTES}`,
    );
  }
  if (ptr + len > memoryBytes) {
    throw new LoadError(
      "BadManifest",
      `manifest [${ptr}, ${ptr + len}) lies outside the ${memoryBytes}-byte memory`,
    );
  }
  return parseManifest(new Uint8Array(exports.memory.buffer, ptr, len).slice());
}

function checkExchange(
  exports: CartridgeExports,
  sizes: RecordSizes,
  limits: SandboxLimits,
): { ptr: number; len: number; maxBatch: number; maxRolloutSteps: number } {
  const ptr = callConstant(exports, "cartridge_exchange_ptr", limits);
  const len = callConstant(exports, "cartridge_exchange_len", limits);
  const memoryBytes = exports.memory.buffer.byteLength;
  const problem = (text: string) => new LoadError("BadManifest", `exchange region: ${text}`);
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
