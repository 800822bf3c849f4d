import {
  Metadata,
  ServerInterceptingCall,
  type ServerInterceptor,
  type ServerListener,
} from "@grpc/grpc-js";
import { type MappedError, toServiceError } from "../status.js";
import type { Authenticator } from "./authenticator.js";
import { AuthError } from "./errors.js";
import { type Requirement, requirementFor } from "./roles.js";

/**
 * Metadata key under which the server tells its own handlers who the caller is (the identity's
 * name). Whatever a client sends under this key is removed first, so a handler can trust it.
 */
export const IDENTITY_METADATA_KEY = "x-cartridge-identity";

/** What the interceptor reports about a refused call (for metrics and logs; never a secret). */
export interface RefusedCall {
  readonly path: string;
  readonly requirement: Requirement;
  readonly peer: string;
  readonly error: AuthError;
}

/**
 * A gRPC server interceptor that authorises every call of every service before its handler runs:
 * a refused call ends with UNAUTHENTICATED or PERMISSION_DENIED (the typed code in trailing
 * metadata, as every other error) and reaches no handler, so nothing is applied or proposed.
 */
export function authInterceptor(
  authenticator: Authenticator,
  onRefused: (refused: RefusedCall) => void,
): ServerInterceptor {
  return (method, call) => {
    const requirement = requirementFor(method.path);
    const listener: ServerListener = {
      onReceiveMetadata: (metadata, next) => {
        metadata.remove(IDENTITY_METADATA_KEY);
        let name: string;
        try {
          name = authenticator.authorize(
            method.path,
            requirement,
            metadata,
            call.getAuthContext(),
          ).name;
        } catch (error) {
          if (!(error instanceof AuthError)) throw error;
          onRefused({ path: method.path, requirement, peer: call.getPeer(), error });
          const mapped: MappedError = toServiceError(error, { requestId: "" });
          call.sendStatus({
            code: mapped.serviceError.code,
            details: mapped.serviceError.details,
            metadata: mapped.serviceError.metadata ?? new Metadata(),
          });
          return;
        }
        metadata.set(IDENTITY_METADATA_KEY, name);
        next(metadata);
      },
    };
    return new ServerInterceptingCall(call, { start: (next) => next(listener) });
  };
}

/** The caller's identity name as the interceptor recorded it, or undefined without one. */
export function callerName(metadata: Metadata): string | undefined {
  const value = metadata.get(IDENTITY_METADATA_KEY)[0];
  return typeof value === "string" ? value : undefined;
}
