import type { TrapReport } from "./trap-report.js";

/**
 * Typed errors of the cartridge runtime. Every error has a stable `code` that callers switch on
 * (the gRPC layer maps codes to status codes in one place); the message is for people.
 */

/** Codes for a module that cannot be loaded. See docs/abi.md, section 8. */
export type LoadErrorCode =
  | "TooLarge"
  | "Compile"
  | "ForbiddenImport"
  | "MissingExport"
  | "AbiVersion"
  | "BadManifest"
  | "MemoryLimit"
  | "Nondeterministic"
  | "EnvConflict"
  | "TooManyEnvs"
  | "Link"
  | "BudgetExceeded"
  /** The start function or a constant export ran past the load watchdog (load-probe.ts). */
  | "Timeout"
  | "Unreadable";

/** Codes for a call that failed. */
export type CallErrorCode =
  | "UnknownEnv"
  | "UnknownBuild"
  | "BadState"
  | "BadAction"
  | "IllegalAction"
  | "EpisodeOver"
  | "BadHint"
  | "BadArgument"
  | "BadRequest"
  | "LimitExceeded"
  | "Trap"
  | "BudgetExceeded"
  | "Timeout"
  | "Cancelled"
  | "CartridgeInternal";

export type CartridgeErrorCode = LoadErrorCode | CallErrorCode;

/** Base class of every error the runtime throws on purpose. */
export class CartridgeError extends Error {
  override readonly name: string = "CartridgeError";
  constructor(
    readonly code: CartridgeErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A module was rejected at load time; `source` names the file or origin when known. */
export class LoadError extends CartridgeError {
  override readonly name = "LoadError";
  constructor(
    override readonly code: LoadErrorCode,
    message: string,
    readonly source?: string,
    options?: { cause?: unknown },
  ) {
    super(code, source === undefined ? message : `${source}: ${message}`, options);
  }
}

/**
 * A call into a loaded cartridge failed; `envId` names the env when known, and `trap` says where
 * and how to reproduce it when the cartridge trapped (trap-report.ts).
 */
export class CallError extends CartridgeError {
  override readonly name = "CallError";
  readonly trap: TrapReport | undefined;
  constructor(
    override readonly code: CallErrorCode,
    message: string,
    readonly envId?: string,
    options?: { cause?: unknown; trap?: TrapReport },
  ) {
    super(code, message, options);
    this.trap = options?.trap;
  }
}

/** True when `value` is one of the runtime's typed errors. */
export function isCartridgeError(value: unknown): value is CartridgeError {
  return value instanceof CartridgeError;
}

// Every client-supplied string echoed in a message or a log field is bounded here, in one place:
// an id of hundreds of KiB echoed in a gRPC status overflows HTTP/2 header limits (the client
// hangs, the channel breaks).

/**
 * Longest status message (`details`) the server sends, in UTF-8 bytes: the backstop. gRPC
 * percent-encodes every non-ASCII byte of a status message (up to 3 wire bytes each), and gRPC's C
 * core (the Python client) refuses trailers over 8 KiB, so 1 KiB of text stays well inside.
 */
export const MAX_MESSAGE_BYTES = 1024;

/**
 * `value` cut to at most `maxBytes` UTF-8 bytes (never inside a character), with how much was cut,
 * so that a person still sees the start of a huge id and knows it was huge.
 */
export function boundForMessage(value: string, maxBytes: number = MAX_MESSAGE_BYTES): string {
  // A UTF-16 code unit is at most 3 UTF-8 bytes: the common short message needs no counting.
  if (value.length * 3 <= maxBytes || Buffer.byteLength(value) <= maxBytes) return value;
  let bytes = 0;
  let end = 0;
  for (const char of value) {
    const size = Buffer.byteLength(char);
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += char.length;
  }
  return `${value.slice(0, end)}… (${value.length - end} more chars)`;
}

/** Longest client-supplied string quoted in a message or a log field, in characters. */
export const MAX_QUOTED_CHARS = 128;

/** A client-supplied string quoted (JSON) and bounded, for an error message or a log field. */
export function quoteForMessage(value: string, maxChars: number = MAX_QUOTED_CHARS): string {
  if (value.length <= maxChars) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, maxChars))}… (${value.length - maxChars} more chars)`;
}

/**
 * Why a file was refused for declaring an env another file provides (`EnvConflict`): the one
 * wording for the folder-driven registry and the node's cartridge folder.
 */
export function envConflictMessage(envId: string, owner: string): string {
  return `declares env ${quoteForMessage(envId)}, which ${quoteForMessage(owner)} already provides; one file per env id (remove or rename one of them)`;
}
