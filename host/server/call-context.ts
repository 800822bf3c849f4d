import { randomUUID } from "node:crypto";
import {
  type handleUnaryCall,
  type Metadata,
  type ServerUnaryCall,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import type { Span } from "@opentelemetry/api";
import type { Logger } from "pino";
import { quoteForMessage } from "../runtime/errors.js";
import type { ServerMetrics } from "./metrics.js";
import { type MappedError, statusName, toServiceError } from "./status.js";
import { endRpcSpan, startRpcSpan } from "./telemetry.js";

/** Metadata key a client may set to choose the request id that appears in the server's logs. */
export const REQUEST_ID_METADATA_KEY = "x-request-id";

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

/** Things every handler needs for one call: a request id, a child logger, a span and timing. */
export interface CallContext {
  readonly method: string;
  readonly requestId: string;
  readonly log: Logger;
  readonly span: Span;
  /** The env the call is about, once known (labels metrics and error messages). */
  envId: string | undefined;
}

/** Shared by every call of one server. */
export interface ServiceDeps {
  readonly logger: Logger;
  readonly metrics: ServerMetrics;
}

/** Uses the client's request id when it is sane, otherwise makes one up. */
function requestIdFrom(metadata: Metadata): string {
  const given = metadata.get(REQUEST_ID_METADATA_KEY)[0];
  if (typeof given === "string" && REQUEST_ID_PATTERN.test(given)) return given;
  return randomUUID();
}

/** Opens the context of one call. */
export function openCall(deps: ServiceDeps, method: string, metadata: Metadata): CallContext {
  const requestId = requestIdFrom(metadata);
  // The child logger is made on first use: most successful calls log nothing, and making one
  // serializes its bindings, a measurable share of a Step's server time.
  let log: Logger | undefined;
  return {
    method,
    requestId,
    get log() {
      log ??= deps.logger.child({ requestId, method });
      return log;
    },
    span: startRpcSpan(method, requestId),
    envId: undefined,
  };
}

/**
 * Env label for metrics. Ids of envs that do not exist never become labels, so that a client
 * sending random env ids cannot grow the metric set without bound.
 */
function envLabel(ctx: CallContext, errorCode?: string): string {
  if (ctx.envId === undefined || errorCode === "UnknownEnv" || errorCode === "UnknownBuild") {
    return "unknown";
  }
  return ctx.envId;
}

/** The env id for a log field: bounded, since it may be any string a client sent. */
function envForLog(ctx: CallContext): string | undefined {
  return ctx.envId === undefined ? undefined : quoteForMessage(ctx.envId);
}

/** Records a successful call. */
export function finishOk(deps: ServiceDeps, ctx: CallContext, startNs: bigint): void {
  const seconds = Number(process.hrtime.bigint() - startNs) / 1e9;
  deps.metrics.observeOk(ctx.method, seconds);
  endRpcSpan(ctx.span, status.OK);
}

/** Maps, logs and records a failed call; returns the error to send. */
export function finishError(
  deps: ServiceDeps,
  ctx: CallContext,
  startNs: bigint,
  error: unknown,
): MappedError {
  const mapped = toServiceError(error, { envId: ctx.envId, requestId: ctx.requestId });
  const code = statusName(mapped.serviceError.code);
  mapped.serviceError.metadata.set("request-id", ctx.requestId);
  const seconds = Number(process.hrtime.bigint() - startNs) / 1e9;
  deps.metrics.rpcDuration.observe({ method: ctx.method, code }, seconds);
  deps.metrics.rpcErrors.inc({
    method: ctx.method,
    code,
    error: mapped.errorCode,
    env: envLabel(ctx, mapped.errorCode),
  });
  if (mapped.unexpected) {
    ctx.log.error({ err: error, envId: envForLog(ctx), code }, "call failed unexpectedly");
  } else {
    ctx.log.info(
      {
        envId: envForLog(ctx),
        code,
        error: mapped.errorCode,
        details: mapped.serviceError.details,
      },
      "call rejected",
    );
  }
  endRpcSpan(ctx.span, mapped.serviceError.code, mapped.serviceError.details);
  return mapped;
}

/**
 * Wraps a unary handler with the shared request id, logging, metrics and error mapping. The
 * handler gets a signal that aborts when the client cancels or its deadline passes, so that the
 * engine stops the call's work. `decorateError` may add to the status sent (a leader hint).
 */
export function unaryHandler<Req, Res>(
  deps: ServiceDeps,
  method: string,
  handler: (
    request: Req,
    ctx: CallContext,
    signal: AbortSignal,
    call: ServerUnaryCall<Req, Res>,
  ) => Res | Promise<Res>,
  decorateError?: (error: unknown, serviceError: ServiceError) => ServiceError,
): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback) => {
    const startNs = process.hrtime.bigint();
    const ctx = openCall(deps, method, call.metadata);
    const abort = new AbortController();
    const onCancelled = () => abort.abort();
    call.once("cancelled", onCancelled);
    const settle = (error: unknown, response?: Res) => {
      call.off("cancelled", onCancelled);
      if (error !== undefined) {
        const { serviceError } = finishError(deps, ctx, startNs, error);
        callback(decorateError === undefined ? serviceError : decorateError(error, serviceError));
        return;
      }
      finishOk(deps, ctx, startNs);
      callback(null, response);
    };
    let result: Res | Promise<Res>;
    try {
      result = handler(call.request, ctx, abort.signal, call);
    } catch (error) {
      settle(error);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (response) => settle(undefined, response),
        (error: unknown) => settle(error ?? new Error("rejected without a reason")),
      );
    } else {
      settle(undefined, result);
    }
  };
}
