import { ALLOWED_IMPORT } from "./abi.js";
import { CallError } from "./errors.js";
import { FuelExport } from "./fuel.js";
import { DEFAULT_LIMITS, type SandboxLimits } from "./sandbox-options.js";
import { trapError, wasmFrames } from "./trap-report.js";

/** The exports of an instrumented cartridge instance, as the host calls them. */
export interface CartridgeExports {
  readonly memory: WebAssembly.Memory;
  cartridge_abi_version(): number;
  cartridge_manifest_ptr(): number;
  cartridge_manifest_len(): number;
  cartridge_exchange_ptr(): number;
  cartridge_exchange_len(): number;
  cartridge_reset(
    seed: bigint,
    hintPtr: number,
    hintLen: number,
    stateOut: number,
    obsOut: number,
    infoOut: number,
  ): number;
  cartridge_step(
    stateIn: number,
    actionIn: number,
    stateOut: number,
    obsOut: number,
    infoOut: number,
  ): number;
  cartridge_step_batch(
    count: number,
    statesIn: number,
    actionsIn: number,
    statesOut: number,
    obsOut: number,
    infosOut: number,
  ): number;
  cartridge_legal_actions?: (stateIn: number, maskOut: number) => number;
  cartridge_rollout(
    seed: bigint,
    stepCap: number,
    flags: number,
    actionsOut: number,
    statesOut: number,
    obsOut: number,
    infosOut: number,
  ): number;
  [FuelExport.fuel](): bigint;
  [FuelExport.depth](): number;
  [FuelExport.setFuel](fuel: number): void;
  [FuelExport.start]?: () => void;
}

/** Thrown (through the wasm frames) by the host's `env.abort` when a cartridge aborts. */
export class CartridgeAbort extends Error {
  override readonly name = "CartridgeAbort";
}

const MAX_ABORT_TEXT_BYTES = 2048;

/** Reads an AssemblyScript string (UTF-16LE, byte length stored at `ptr - 4`), if plausible. */
export function readAssemblyScriptString(
  memory: WebAssembly.Memory,
  ptr: number,
): string | undefined {
  const buffer = memory.buffer;
  if (ptr < 4 || ptr > buffer.byteLength || ptr % 2 !== 0) return undefined;
  const byteLength = new DataView(buffer).getUint32(ptr - 4, true);
  if (byteLength % 2 !== 0 || ptr + byteLength > buffer.byteLength) return undefined;
  const shown = Math.min(byteLength, MAX_ABORT_TEXT_BYTES);
  return new TextDecoder("utf-16le").decode(new Uint8Array(buffer, ptr, shown));
}

/** An instantiated cartridge: its exports and whether its memory may be inconsistent. */
export interface SandboxedInstance {
  readonly exports: CartridgeExports;
}

/**
 * Instantiates an instrumented module synchronously, providing only `env.abort`, and runs its
 * start function (if any) with `limits.startBudgetFuel`. Synchronous so that a trapped instance
 * can be replaced inside the call that needs a fresh one. Throws a `CallError` when the start
 * function runs out of fuel (`BudgetExceeded`) or traps (`Trap`), and whatever V8 throws when
 * instantiation itself fails (a data segment that does not fit).
 */
export function instantiateSandboxed(
  module: WebAssembly.Module,
  limits: Pick<SandboxLimits, "startBudgetFuel" | "maxCallDepth"> = DEFAULT_LIMITS,
): SandboxedInstance {
  let memory: WebAssembly.Memory | undefined;
  const abort = (messagePtr: number, filePtr: number, line: number, column: number): never => {
    const message = memory === undefined ? undefined : readAssemblyScriptString(memory, messagePtr);
    const file = memory === undefined ? undefined : readAssemblyScriptString(memory, filePtr);
    const where = file === undefined ? "" : ` at ${file}:${line}:${column}`;
    throw new CartridgeAbort(`cartridge aborted: ${message ?? "(no message)"}${where}`);
  };
  const imports: WebAssembly.Imports = {
    [ALLOWED_IMPORT.module]: { [ALLOWED_IMPORT.name]: abort },
  };
  const instance = new WebAssembly.Instance(module, imports);
  const exports = instance.exports as unknown as CartridgeExports;
  memory = exports.memory;
  const start = exports[FuelExport.start];
  if (start !== undefined) {
    const budget = { fuel: limits.startBudgetFuel, maxCallDepth: limits.maxCallDepth };
    exports[FuelExport.setFuel](budget.fuel);
    try {
      start();
    } catch (error) {
      throw classifyFailure(error, exports, budget, "the start function");
    }
  }
  return { exports };
}

/**
 * Turns whatever a call into the cartridge threw into a typed `CallError`: running out of fuel or
 * call depth is `BudgetExceeded`, anything else (a trap, an abort, a stack overflow) is `Trap`.
 */
export function classifyFailure(
  error: unknown,
  exports: CartridgeExports,
  budget: { fuel: number; maxCallDepth: number },
  what: string,
  envId?: string,
  buildId?: string,
): CallError {
  if (error instanceof CallError) return error;
  if (error instanceof WebAssembly.RuntimeError) {
    const fuel = exports[FuelExport.fuel]();
    if (fuel < 0n) {
      return new CallError(
        "BudgetExceeded",
        `${what} ran out of fuel (budget ${budget.fuel} units)`,
        envId,
        { cause: error },
      );
    }
    const depth = exports[FuelExport.depth]();
    if (depth > budget.maxCallDepth) {
      return new CallError(
        "BudgetExceeded",
        `${what} exceeded the call depth limit of ${budget.maxCallDepth}`,
        envId,
        { cause: error },
      );
    }
    if (envId === undefined || buildId === undefined) {
      return new CallError("Trap", `${what} trapped: ${error.message}`, envId, { cause: error });
    }
    const frames = wasmFrames(error);
    return trapError({ envId, buildId, export: what, reason: error.message, frames }, error);
  }
  if (error instanceof CartridgeAbort) {
    return new CallError("Trap", `${what}: ${error.message}`, envId, { cause: error });
  }
  if (error instanceof RangeError) {
    return new CallError("Trap", `${what} overflowed the stack: ${error.message}`, envId, {
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new CallError("Trap", `${what} failed: ${message}`, envId, { cause: error });
}
