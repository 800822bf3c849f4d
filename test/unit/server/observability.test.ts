import { Writable } from "node:stream";
import {
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type SpanOptions,
  type SpanStatus,
  TraceFlags,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineClient } from "../../../host/client/index.js";
import { InlineEngine } from "../../../host/runtime/inline-engine.js";
import { type RunningServer, startServer } from "../../../host/server/server.js";
import { CountingEngine } from "./counting-engine.js";

/** A span that remembers what was done to it. */
class RecordedSpan implements Span {
  readonly attributes: Attributes = {};
  status: SpanStatus = { code: 0 };
  ended = false;
  constructor(
    readonly name: string,
    readonly parentSpanId: string | undefined,
    private readonly context: SpanContext,
  ) {}
  spanContext(): SpanContext {
    return this.context;
  }
  setAttribute(key: string, value: Attributes[string]): this {
    this.attributes[key] = value;
    return this;
  }
  setAttributes(attributes: Attributes): this {
    Object.assign(this.attributes, attributes);
    return this;
  }
  addEvent(): this {
    return this;
  }
  addLink(): this {
    return this;
  }
  addLinks(): this {
    return this;
  }
  setStatus(status: SpanStatus): this {
    this.status = status;
    return this;
  }
  updateName(): this {
    return this;
  }
  end(): void {
    this.ended = true;
  }
  isRecording(): boolean {
    return !this.ended;
  }
  recordException(): void {}
}

/** A tracer provider that records spans in memory (the API only, no SDK needed). */
function recordingProvider(spans: RecordedSpan[]) {
  let next = 0;
  const tracer: Tracer = {
    startSpan(name: string, options?: SpanOptions, context?: Context): Span {
      void options;
      const parent = context === undefined ? undefined : trace.getSpanContext(context);
      const spanId = (++next).toString(16).padStart(16, "0");
      const span = new RecordedSpan(name, parent?.spanId, {
        traceId: parent?.traceId ?? spanId.padStart(32, "0"),
        spanId,
        traceFlags: TraceFlags.SAMPLED,
      });
      if (options?.attributes !== undefined) span.setAttributes(options.attributes);
      spans.push(span);
      return span;
    },
    startActiveSpan(): never {
      throw new Error("not used by the server");
    },
  };
  return { getTracer: () => tracer };
}

describe("observability", () => {
  const spans: RecordedSpan[] = [];
  const lines: Record<string, unknown>[] = [];
  let server: RunningServer;
  let client: EngineClient;

  beforeAll(async () => {
    trace.setGlobalTracerProvider(recordingProvider(spans));
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString().split("\n")) {
          if (line !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
        }
        callback();
      },
    });
    server = await startServer({
      engine: new InlineEngine(new CountingEngine()),
      logger: pino({ level: "debug" }, sink),
    });
    client = await EngineClient.connect(server.address);
  });

  afterAll(async () => {
    client.close();
    await server.shutdown(1000);
    trace.disable();
  });

  it("puts the request id on every log line of a call", async () => {
    await client
      .step("nope-v1", new Uint8Array(4), new Uint8Array(4), { requestId: "req-42" })
      .catch(() => undefined);
    for await (const _ of client.batchSimulate({
      envId: "count-v1",
      rollouts: { seed: 0, episodes: 3, stepCap: 10 },
      requestId: "req-43",
    })) {
      // Drained.
    }
    const ofStep = lines.filter((l) => l.method === "Step");
    expect(ofStep.length).toBeGreaterThan(0);
    expect(ofStep.every((l) => l.requestId === "req-42")).toBe(true);
    expect(ofStep.some((l) => l.msg === "call rejected" && l.error === "UnknownEnv")).toBe(true);
    const ofBatch = lines.filter((l) => l.method === "BatchSimulate");
    expect(ofBatch.map((l) => l.msg)).toEqual(["batch started", "batch finished"]);
    expect(ofBatch.every((l) => l.requestId === "req-43")).toBe(true);
  });

  it("wraps each RPC in a server span with the cartridge call as its child", async () => {
    spans.length = 0;
    await client.reset("count-v1", 1n);
    const rpc = spans.find((s) => s.name === "engine.v1.Engine/Reset");
    const call = spans.find((s) => s.name === "cartridge.reset");
    expect(rpc?.ended).toBe(true);
    expect(rpc?.attributes["rpc.grpc.status_code"]).toBe(0);
    expect(call?.ended).toBe(true);
    expect(call?.parentSpanId).toBe(rpc?.spanContext().spanId);
    expect(call?.attributes["cartridge.env_id"]).toBe("count-v1");

    spans.length = 0;
    await client.step("count-v1", new Uint8Array(4), new Uint8Array(3)).catch(() => undefined);
    const failed = spans.find((s) => s.name === "engine.v1.Engine/Step");
    expect(failed?.attributes["rpc.grpc.status_code"]).toBe(3);
    expect(failed?.status.code).toBe(2);
  });
});
