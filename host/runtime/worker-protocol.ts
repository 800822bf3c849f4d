import type { EngineOptions } from "./cartridge-engine.js";
import type { EnvSelector, RolloutRequest } from "./engine.js";
import { CallError, type CallErrorCode } from "./errors.js";
import type { LoadedCartridge } from "./loader.js";
import type { TrapReport } from "./trap-report.js";

/**
 * Messages between the `WorkerEngine` (main thread) and a guest worker (guest-worker.ts). Byte
 * arrays are transferred, not copied: the sender gives up every buffer it lists.
 */

/** A call into a cartridge, as a worker runs it. Selectors always pin a build id. */
export type GuestCall =
  | {
      readonly op: "reset";
      readonly selector: EnvSelector;
      readonly seed: bigint;
      readonly hint?: Uint8Array;
    }
  | {
      readonly op: "step";
      readonly selector: EnvSelector;
      readonly state: Uint8Array;
      readonly action: Uint8Array;
    }
  | {
      readonly op: "stepEach";
      readonly selector: EnvSelector;
      readonly items: readonly { readonly state: Uint8Array; readonly action: Uint8Array }[];
    }
  | {
      readonly op: "batchStep";
      readonly selector: EnvSelector;
      readonly states: Uint8Array;
      readonly actions: Uint8Array;
      readonly autoreset?: { readonly seed: bigint; readonly firstIndex: number };
    }
  | {
      readonly op: "resetRows";
      readonly selector: EnvSelector;
      readonly seed: bigint;
      readonly start: number;
      readonly rows: number;
      readonly hints: readonly Uint8Array[];
    }
  | {
      readonly op: "rolloutChunk";
      readonly request: RolloutRequest;
      readonly first: number;
      /** A released chunk's buffer of the same call, transferred back for this chunk's columns. */
      readonly reuse?: ArrayBuffer;
    };

/**
 * Main thread to worker. A `build` is sent once per worker before the first call that needs it;
 * `evict` drops builds the registry no longer keeps (sent again if a later call needs one).
 */
export type ToWorker =
  | { readonly kind: "build"; readonly cartridge: LoadedCartridge }
  | { readonly kind: "call"; readonly id: number; readonly call: GuestCall }
  | { readonly kind: "evict"; readonly buildIds: readonly string[] };

/** A failure as it crosses the thread boundary. */
export interface WireError {
  readonly code?: CallErrorCode;
  readonly message: string;
  readonly envId?: string;
  readonly trap?: TrapReport;
}

/** Worker to main thread: ready for calls (sent once, after start-up), or the outcome of call `id`. */
export type FromWorker =
  | { readonly kind: "ready" }
  | { readonly kind: "result"; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly kind: "result"; readonly id: number; readonly ok: false; readonly error: WireError };

/** What a worker is started with. */
export interface GuestWorkerData {
  readonly engine: EngineOptions;
  /** Niceness the worker thread gives itself (see `WorkerEngineOptions.workerNice`). */
  readonly nice: number;
  /** Bound on the memory of the worker's idle instances (`RegistryOptions.maxIdleInstanceBytes`). */
  readonly maxIdleInstanceBytes: number;
  /** The worker's unary channel (unary-channel.ts): it sleeps on it between messages. */
  readonly channel: SharedArrayBuffer;
}

/** Every distinct transferable buffer of the typed arrays in `value` (two levels deep). */
export function transferablesOf(value: unknown, depth = 2): ArrayBuffer[] {
  const found = new Set<ArrayBuffer>();
  const visit = (v: unknown, level: number) => {
    if (ArrayBuffer.isView(v)) {
      if (v.buffer instanceof ArrayBuffer) found.add(v.buffer);
      return;
    }
    if (v instanceof ArrayBuffer) {
      found.add(v);
      return;
    }
    if (level === 0 || v === null || typeof v !== "object") return;
    for (const inner of Object.values(v)) visit(inner, level - 1);
  };
  visit(value, depth);
  return [...found];
}

/** A copy of `bytes` in a buffer of its own, so it can be transferred (one copy, no more). */
export function ownCopy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

export function toWireError(error: unknown): WireError {
  if (error instanceof CallError) {
    return {
      code: error.code,
      message: error.message,
      ...(error.envId ? { envId: error.envId } : {}),
      ...(error.trap === undefined ? {} : { trap: error.trap }),
    };
  }
  return { message: error instanceof Error ? error.message : String(error) };
}

/** A typed `CallError` again; an untyped failure stays a plain `Error` (the server says INTERNAL). */
export function fromWireError(error: WireError): Error {
  if (error.code === undefined) return new Error(`guest worker failed: ${error.message}`);
  return new CallError(error.code, error.message, error.envId, {
    ...(error.trap === undefined ? {} : { trap: error.trap }),
  });
}
