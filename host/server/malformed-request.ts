import type {
  ServerUnaryCall,
  ServerWritableStream,
  ServiceDefinition,
  ServiceError,
  sendUnaryData,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { CallError } from "../runtime/errors.js";
import { toServiceError } from "./status.js";

/**
 * Requests whose bytes do not decode. grpc-js answers a throwing deserializer with INTERNAL
 * ("Error deserializing request"), which a client cannot tell from a cartridge crash. So the
 * deserializers of our services never throw: a decode failure becomes a `MalformedRequest` value,
 * and the handler wrapper answers it with INVALID_ARGUMENT and the typed code `BadRequest` before
 * the handler sees it.
 *
 * This is a check in the handler rather than a server interceptor because an interceptor wraps
 * every call of every service in one more intercepting layer (a measurable share of a unary
 * Step's server time), while the check is one `instanceof` on a request that is decoded anyway.
 * It needs every method's request to be a single message, which `tolerantService` asserts.
 */
export class MalformedRequest {
  constructor(readonly reason: string) {}
}

/** Called once per request that did not decode (for the log). */
export type OnMalformed = (path: string, reason: string) => void;

/** A service whose deserializers never throw and whose handlers answer malformed requests. */
export interface TolerantService<T extends ServiceDefinition> {
  readonly definition: T;
  readonly implementation: UntypedServiceImplementation;
}

function badRequest(path: string, reason: string): ServiceError {
  const error = new CallError(
    "BadRequest",
    `the request is not a valid ${path} request message: ${reason}`,
  );
  return toServiceError(error, { requestId: "" }).serviceError;
}

type AnyHandler = (call: unknown, callback?: unknown) => void;

/**
 * `definition` with deserializers that yield a `MalformedRequest` instead of throwing, and
 * `implementation` with handlers that answer one with INVALID_ARGUMENT / `BadRequest`. Throws
 * when a method streams its requests (their messages arrive after the handler started).
 */
export function tolerantService<T extends ServiceDefinition>(
  definition: T,
  implementation: UntypedServiceImplementation,
  onMalformed: OnMalformed,
): TolerantService<T> {
  const methods: Record<string, unknown> = {};
  const handlers: Record<string, AnyHandler> = {};
  for (const [name, method] of Object.entries(definition)) {
    if (method.requestStream) {
      throw new Error(`tolerantService: ${method.path} streams requests, which it cannot check`);
    }
    const decode = method.requestDeserialize;
    methods[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return decode(bytes);
        } catch (error) {
          return new MalformedRequest(error instanceof Error ? error.message : String(error));
        }
      },
    };
    const handler = implementation[name] as AnyHandler | undefined;
    if (handler === undefined) continue;
    const { path } = method;
    handlers[name] = method.responseStream
      ? (call: unknown) => {
          const stream = call as ServerWritableStream<unknown, unknown>;
          if (!(stream.request instanceof MalformedRequest)) return handler(call);
          onMalformed(path, stream.request.reason);
          stream.emit("error", badRequest(path, stream.request.reason));
        }
      : (call: unknown, callback: unknown) => {
          const unary = call as ServerUnaryCall<unknown, unknown>;
          if (!(unary.request instanceof MalformedRequest)) return handler(call, callback);
          onMalformed(path, unary.request.reason);
          (callback as sendUnaryData<unknown>)(badRequest(path, unary.request.reason));
        };
  }
  return {
    definition: methods as T,
    implementation: { ...implementation, ...handlers } as UntypedServiceImplementation,
  };
}
