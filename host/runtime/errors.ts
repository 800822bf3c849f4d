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
  | "Link"
  | "BudgetExceeded"
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

/** A call into a loaded cartridge failed; `envId` names the env when known. */
export class CallError extends CartridgeError {
  override readonly name = "CallError";
  constructor(
    override readonly code: CallErrorCode,
    message: string,
    readonly envId?: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** True when `value` is one of the runtime's typed errors. */
export function isCartridgeError(value: unknown): value is CartridgeError {
  return value instanceof CartridgeError;
}
