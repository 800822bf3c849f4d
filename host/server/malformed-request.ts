import {
  Metadata,
  ServerInterceptingCall,
  type ServerInterceptor,
  type ServerListener,
  type ServiceDefinition,
} from "@grpc/grpc-js";
import { CallError } from "../runtime/errors.js";
import { toServiceError } from "./status.js";

/**
 * Requests whose bytes do not decode. grpc-js answers a throwing deserializer with INTERNAL
 * ("Error deserializing request"), which a client cannot tell from a cartridge crash. So the
 * deserializers of our services never throw: a decode failure becomes a `MalformedRequest` value,
 * and `malformedRequestInterceptor` answers it with INVALID_ARGUMENT and the typed code
 * `BadRequest` before any handler sees it.
 */
export class MalformedRequest {
  constructor(readonly reason: string) {}
}

/** `definition` with deserializers that yield a `MalformedRequest` instead of throwing. */
export function tolerantDefinition<T extends ServiceDefinition>(definition: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    const decode = method.requestDeserialize;
    wrapped[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return decode(bytes);
        } catch (error) {
          return new MalformedRequest(error instanceof Error ? error.message : String(error));
        }
      },
    };
  }
  return wrapped as T;
}

/** Ends a call whose request did not decode with INVALID_ARGUMENT / `BadRequest`. */
export function malformedRequestInterceptor(
  onMalformed: (path: string, reason: string) => void,
): ServerInterceptor {
  return (method, call) => {
    const listener: ServerListener = {
      onReceiveMessage: (message, next) => {
        if (!(message instanceof MalformedRequest)) {
          next(message);
          return;
        }
        onMalformed(method.path, message.reason);
        const error = new CallError(
          "BadRequest",
          `the request is not a valid ${method.path} request message: ${message.reason}`,
        );
        const mapped = toServiceError(error, { requestId: "" });
        call.sendStatus({
          code: mapped.serviceError.code,
          details: mapped.serviceError.details,
          metadata: mapped.serviceError.metadata ?? new Metadata(),
        });
      },
    };
    return new ServerInterceptingCall(call, { start: (next) => next(listener) });
  };
}
