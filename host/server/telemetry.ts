import { context, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { boundForMessage, MAX_QUOTED_CHARS } from "../runtime/errors.js";

/**
 * OpenTelemetry spans around RPCs and cartridge calls. Only the API is used: without an SDK and
 * exporter registered by the embedding process, every span is a cheap no-op.
 */
const tracer = trace.getTracer("cartridge-server", "0.1.0");

/** Starts the server span of one RPC. */
export function startRpcSpan(method: string, requestId: string): Span {
  return tracer.startSpan(`engine.v1.Engine/${method}`, {
    kind: SpanKind.SERVER,
    attributes: { "rpc.system": "grpc", "rpc.method": method, "cartridge.request_id": requestId },
  });
}

/**
 * Runs `fn` inside a child span named after the cartridge call, until its promise settles;
 * records a failure.
 */
export async function inCartridgeSpan<T>(
  parent: Span,
  name: string,
  envId: string,
  fn: () => Promise<T>,
): Promise<T> {
  // Without an SDK (or when the RPC was not sampled) the RPC span does not record, and neither
  // would this one: skip making it, and the context it needs, on every call.
  if (!parent.isRecording()) return fn();
  const ctx = trace.setSpan(context.active(), parent);
  const span = tracer.startSpan(
    `cartridge.${name}`,
    { attributes: { "cartridge.env_id": boundForMessage(envId, MAX_QUOTED_CHARS) } },
    ctx,
  );
  try {
    return await fn();
  } catch (error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: boundForMessage(String(error)) });
    throw error;
  } finally {
    span.end();
  }
}

/** Ends an RPC span with its gRPC status. */
export function endRpcSpan(span: Span, grpcCode: number, message?: string): void {
  span.setAttribute("rpc.grpc.status_code", grpcCode);
  if (grpcCode !== 0) span.setStatus({ code: SpanStatusCode.ERROR, message: message ?? "" });
  span.end();
}
