import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { ConsensusError, type ConsensusErrorCode } from "../consensus/core/errors.js";
import {
  ReplicationError,
  type ReplicationErrorCode,
  StaleStepError,
} from "../replication/errors.js";
import {
  boundForMessage,
  CallError,
  type CallErrorCode,
  type CartridgeErrorCode,
  isCartridgeError,
  MAX_QUOTED_CHARS,
} from "../runtime/errors.js";
import { AuthError, type AuthErrorCode } from "./auth/errors.js";

/**
 * The one place where typed domain errors become gRPC statuses. Every handler funnels its failures
 * through `toServiceError`, so a code means the same thing on every RPC.
 *
 * Choices worth stating:
 * - `IllegalAction` is INVALID_ARGUMENT, not FAILED_PRECONDITION: the service is stateless, the
 *   state is part of the request, so the request itself is wrong whatever the server's state.
 * - `EpisodeOver` is FAILED_PRECONDITION, so that a client can tell "reset first" from "your
 *   bytes are malformed" without parsing messages.
 * - `LimitExceeded` is RESOURCE_EXHAUSTED, like grpc's own "message larger than max": the request
 *   is well-formed but asks for more than the server allows; split it.
 * - `Trap` and `CartridgeInternal` are INTERNAL and the message names the env: the cartridge has a
 *   bug, not the caller.
 * - Anything untyped is INTERNAL with a generic message; the detail goes only to the log.
 * - `Timeout` is RESOURCE_EXHAUSTED for a call past its watchdog and for a load past the load
 *   probe's (a Deploy refused before it is proposed): the code is shared by `CallError` and
 *   `LoadError`, and so is its one entry below. Every other load error reaching the server is
 *   INTERNAL.
 * - Consensus outcomes (docs/service.md, "Cluster"): a request whose outcome is unknown
 *   (`Indeterminate`: the leader changed while it was in flight; `Timeout`: not committed before
 *   its deadline) is DEADLINE_EXCEEDED, the one status gRPC defines as "may have completed". Every
 *   other failure is definite: nothing was applied. `NotLeader` and `Stopped` are UNAVAILABLE
 *   (retry, at the leader named in the trailing metadata); `Overloaded` is RESOURCE_EXHAUSTED;
 *   `StaleRequest` and `SessionExpired` are FAILED_PRECONDITION (the client's request ids are
 *   behind what the cluster applied: start a new client id).
 * - Game sessions: `StaleStep` (someone else stepped first) is FAILED_PRECONDITION and carries
 *   the session's current step in the trailing metadata `cartridge-current-step`, so that a
 *   client resynchronises without parsing the message; `EpisodeOver` is FAILED_PRECONDITION as
 *   for the stateless Step; an unknown (closed, expired) session is NOT_FOUND.
 */

/** Trailing-metadata key that carries the host's typed error code, e.g. "BadState". */
export const ERROR_CODE_METADATA_KEY = "cartridge-error-code";
/** Trailing-metadata key of a `StaleStep` refusal: the session's current step index (decimal). */
export const CURRENT_STEP_METADATA_KEY = "cartridge-current-step";

const CALL_ERROR_STATUS: Record<CallErrorCode, status> = {
  UnknownEnv: status.NOT_FOUND,
  UnknownBuild: status.NOT_FOUND,
  BadState: status.INVALID_ARGUMENT,
  BadAction: status.INVALID_ARGUMENT,
  BadHint: status.INVALID_ARGUMENT,
  BadArgument: status.INVALID_ARGUMENT,
  BadRequest: status.INVALID_ARGUMENT,
  IllegalAction: status.INVALID_ARGUMENT,
  EpisodeOver: status.FAILED_PRECONDITION,
  LimitExceeded: status.RESOURCE_EXHAUSTED,
  BudgetExceeded: status.RESOURCE_EXHAUSTED,
  Timeout: status.RESOURCE_EXHAUSTED,
  Cancelled: status.CANCELLED,
  Trap: status.INTERNAL,
  CartridgeInternal: status.INTERNAL,
};

const AUTH_ERROR_STATUS: Record<AuthErrorCode, status> = {
  Unauthenticated: status.UNAUTHENTICATED,
  PermissionDenied: status.PERMISSION_DENIED,
};

const CONSENSUS_ERROR_STATUS: Record<ConsensusErrorCode, status> = {
  NotLeader: status.UNAVAILABLE,
  Stopped: status.UNAVAILABLE,
  Indeterminate: status.DEADLINE_EXCEEDED,
  Timeout: status.DEADLINE_EXCEEDED,
  Overloaded: status.RESOURCE_EXHAUSTED,
  StaleRequest: status.FAILED_PRECONDITION,
  SessionExpired: status.FAILED_PRECONDITION,
  InvalidArgument: status.INVALID_ARGUMENT,
  NotImplemented: status.UNIMPLEMENTED,
  InvariantViolated: status.INTERNAL,
  StorageFailure: status.INTERNAL,
};

const REPLICATION_ERROR_STATUS: Record<ReplicationErrorCode, status> = {
  BadArgument: status.INVALID_ARGUMENT,
  LimitExceeded: status.RESOURCE_EXHAUSTED,
  BadCommand: status.INTERNAL,
  BadSnapshot: status.INTERNAL,
  NotFound: status.NOT_FOUND,
  InUse: status.FAILED_PRECONDITION,
  NotAllowed: status.FAILED_PRECONDITION,
  BadModule: status.INVALID_ARGUMENT,
  StaleStep: status.FAILED_PRECONDITION,
  EpisodeOver: status.FAILED_PRECONDITION,
};

/** gRPC status for a consensus error code. */
export function statusForConsensusCode(code: ConsensusErrorCode): status {
  return CONSENSUS_ERROR_STATUS[code];
}

/**
 * An answer another node gave to a call this node forwarded (a follower relaying its leader):
 * passed on as it came, status, message and trailing metadata.
 */
export class RelayedError extends Error {
  override readonly name = "RelayedError";
  constructor(
    readonly code: status,
    message: string,
    readonly errorCode: string,
    readonly metadata: Metadata,
  ) {
    super(message);
  }
}

/**
 * gRPC status for a typed error code; load errors reaching a call are the server's problem,
 * except the codes a load shares with a call (`Timeout`, `BudgetExceeded`).
 */
export function statusForCode(code: CartridgeErrorCode): status {
  return (
    (CALL_ERROR_STATUS as Partial<Record<CartridgeErrorCode, status>>)[code] ?? status.INTERNAL
  );
}

/**
 * A failure that already has its gRPC status and is nobody's bug: the client cancelled, the
 * deadline passed.
 */
export class StatusError extends Error {
  override readonly name = "StatusError";
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

/** What a failed call answers, plus what the server should log about it. */
export interface MappedError {
  readonly serviceError: ServiceError;
  /** The typed code, or "Internal" for an untyped error. */
  readonly errorCode: string;
  /** True when the error was not a typed domain error (log it at error level with the stack). */
  readonly unexpected: boolean;
}

/**
 * Every status the server sends passes here, so this is the backstop that bounds its message:
 * whatever a message echoes, `details` stays far below HTTP/2 header limits.
 */
function makeServiceError(code: status, message: string, errorCode: string): ServiceError {
  const details = boundForMessage(message);
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_METADATA_KEY, errorCode);
  const error = new Error(details) as ServiceError;
  error.code = code;
  error.details = details;
  error.metadata = metadata;
  return error;
}

/**
 * Maps any thrown value to the status a client sees. `context.envId` names the env for cartridge
 * bugs; `context.requestId` lets a person find the log line of an unexpected error.
 */
export function toServiceError(
  error: unknown,
  context: { envId?: string | undefined; requestId: string },
): MappedError {
  if (error instanceof StatusError) {
    const errorCode = statusName(error.code);
    return {
      serviceError: makeServiceError(error.code, error.message, errorCode),
      errorCode,
      unexpected: false,
    };
  }
  if (error instanceof RelayedError) {
    const serviceError = makeServiceError(error.code, error.message, error.errorCode);
    for (const [key, value] of Object.entries(error.metadata.getMap())) {
      if (key !== ERROR_CODE_METADATA_KEY) serviceError.metadata.set(key, value);
    }
    return { serviceError, errorCode: error.errorCode, unexpected: false };
  }
  if (error instanceof ConsensusError) {
    const code = CONSENSUS_ERROR_STATUS[error.code];
    return {
      serviceError: makeServiceError(code, error.message, error.code),
      errorCode: error.code,
      unexpected: code === status.INTERNAL,
    };
  }
  if (error instanceof ReplicationError) {
    const code = REPLICATION_ERROR_STATUS[error.code];
    const serviceError = makeServiceError(code, error.message, error.code);
    if (error instanceof StaleStepError) {
      serviceError.metadata.set(CURRENT_STEP_METADATA_KEY, String(error.currentStep));
    }
    return {
      serviceError,
      errorCode: error.code,
      unexpected: code === status.INTERNAL,
    };
  }
  if (error instanceof AuthError) {
    return {
      serviceError: makeServiceError(AUTH_ERROR_STATUS[error.code], error.message, error.code),
      errorCode: error.code,
      unexpected: false,
    };
  }
  if (isCartridgeError(error)) {
    const code = statusForCode(error.code);
    const envId = error instanceof CallError ? (error.envId ?? context.envId) : context.envId;
    let details = error.message;
    if (error.code === "Trap" || error.code === "CartridgeInternal") {
      const who =
        envId === undefined
          ? "the cartridge"
          : `cartridge ${boundForMessage(envId, MAX_QUOTED_CHARS)}`;
      details = `${who} failed (a bug in the cartridge, not in your request): ${error.message}`;
    } else if (statusForCode(error.code) === status.INTERNAL) {
      details = `internal error (request id ${context.requestId})`;
      return {
        serviceError: makeServiceError(code, details, error.code),
        errorCode: error.code,
        unexpected: true,
      };
    }
    return {
      serviceError: makeServiceError(code, details, error.code),
      errorCode: error.code,
      unexpected: false,
    };
  }
  const details = `internal error (request id ${context.requestId})`;
  return {
    serviceError: makeServiceError(status.INTERNAL, details, "Internal"),
    errorCode: "Internal",
    unexpected: true,
  };
}

/** A request the server rejects before it reaches the engine (missing field, over a limit). */
export function requestError(code: "BadArgument" | "LimitExceeded", message: string): CallError {
  return new CallError(code, message);
}

/** Name of a gRPC status code, for metrics labels and logs ("NOT_FOUND"). */
export function statusName(code: status): string {
  return status[code] ?? String(code);
}
