import { type ServiceError, status } from "@grpc/grpc-js";

/** Metadata keys the server sets on a failed call. */
const ERROR_CODE_KEY = "cartridge-error-code";
const REQUEST_ID_KEY = "request-id";
/** Trailing metadata of a `StaleStep` refusal: the session's current step. */
const CURRENT_STEP_KEY = "cartridge-current-step";

/**
 * A failed call, with the gRPC status, the server's typed error code (e.g. "BadState",
 * "EpisodeOver") and the request id to look for in the server's logs.
 */
export class EngineCallError extends Error {
  override readonly name = "EngineCallError";
  /** For a `StaleStep` refusal of a session step: the step the session is at. */
  readonly currentStep: number | undefined;

  constructor(
    /** gRPC status code (see `status` in @grpc/grpc-js). */
    readonly code: status,
    /** The server's typed error code, or the status name when the server sent none. */
    readonly errorCode: string,
    message: string,
    readonly requestId: string | undefined,
    options?: { cause?: unknown; currentStep?: number | undefined },
  ) {
    super(message, options);
    this.currentStep = options?.currentStep;
  }
}

function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && typeof (error as Partial<ServiceError>).code === "number";
}

function stepOf(value: string | undefined): number | undefined {
  if (value === undefined || !/^[0-9]{1,16}$/.test(value)) return undefined;
  return Number(value);
}

/** Wraps a grpc-js error into an `EngineCallError`; anything else is returned unchanged. */
export function toEngineCallError(error: unknown): unknown {
  // An EngineCallError also has a numeric code; wrapping it again would lose its typed code.
  if (error instanceof EngineCallError || !isServiceError(error)) return error;
  const first = (key: string) => {
    const value = error.metadata?.get(key)[0];
    return typeof value === "string" ? value : undefined;
  };
  const errorCode = first(ERROR_CODE_KEY) ?? status[error.code] ?? String(error.code);
  return new EngineCallError(
    error.code,
    errorCode,
    error.details || error.message,
    first(REQUEST_ID_KEY),
    { cause: error, currentStep: stepOf(first(CURRENT_STEP_KEY)) },
  );
}
