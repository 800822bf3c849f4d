import { Server, ServerCredentials } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { type Logger, pino } from "pino";
import { EngineService } from "../proto/generated/engine/v1/engine.js";
import type { Engine } from "../runtime/engine.js";
import { createEngineService } from "./engine-service.js";
import { DEFAULT_LIMITS, type ServerLimits } from "./limits.js";
import { listenError } from "./listen-error.js";
import { ServerMetrics } from "./metrics.js";
import { addReflection } from "./reflection.js";

/** Fully-qualified name of the Engine service, as health checks and reflection know it. */
export const ENGINE_SERVICE_NAME = "engine.v1.Engine";

/** Options of `startServer`. */
export interface StartServerOptions {
  readonly engine: Engine;
  /** Interface to bind; default 127.0.0.1. */
  readonly host?: string;
  /** TCP port; 0 (the default) picks a free one. */
  readonly port?: number;
  readonly limits?: Partial<ServerLimits>;
  /** Structured logger; a silent one by default. */
  readonly logger?: Logger;
  /** Metrics registry; a fresh one by default. */
  readonly metrics?: ServerMetrics;
}

/** How a shutdown ended. */
export interface ShutdownResult {
  /** True when in-flight calls were still running at the deadline and were cancelled. */
  readonly forced: boolean;
}

/** A listening server. */
export interface RunningServer {
  /** "host:port" a client can connect to. */
  readonly address: string;
  readonly port: number;
  readonly server: Server;
  readonly metrics: ServerMetrics;
  readonly health: HealthImplementation;
  readonly limits: ServerLimits;
  /**
   * Stops accepting calls, lets in-flight calls finish, and cancels whatever is still running
   * after `graceMs` (default `limits.shutdownGraceMs`). Safe to call more than once.
   */
  shutdown(graceMs?: number): Promise<ShutdownResult>;
}

function bind(server: Server, host: string, port: number): Promise<number> {
  // IPv6 literals need brackets in a gRPC target.
  const hostPart = host.includes(":") ? `[${host}]` : host;
  return new Promise((resolve, reject) => {
    server.bindAsync(`${hostPart}:${port}`, ServerCredentials.createInsecure(), (error, bound) => {
      if (error) reject(listenError("port", host, port, error));
      else resolve(bound);
    });
  });
}

/** Starts the Engine gRPC service with health checking and reflection. */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const logger = options.logger ?? pino({ level: "silent" });
  const metrics = options.metrics ?? new ServerMetrics();
  const host = options.host ?? "127.0.0.1";

  const server = new Server({
    "grpc.max_receive_message_length": limits.maxReceiveMessageBytes,
    "grpc.max_send_message_length": limits.maxSendMessageBytes,
  });
  server.addService(
    EngineService,
    createEngineService(options.engine, { logger, metrics }, limits),
  );
  const health = new HealthImplementation({ "": "SERVING", [ENGINE_SERVICE_NAME]: "SERVING" });
  health.addToServer(server);
  addReflection(server);

  const port = await bind(server, host, options.port ?? 0);
  const hostPart = host.includes(":") ? `[${host}]` : host;
  metrics.envsServed.set(options.engine.listEnvs().length);

  let stopping: Promise<ShutdownResult> | undefined;
  const shutdown = (graceMs = limits.shutdownGraceMs): Promise<ShutdownResult> => {
    stopping ??= new Promise<ShutdownResult>((resolve) => {
      health.setStatus("", "NOT_SERVING");
      health.setStatus(ENGINE_SERVICE_NAME, "NOT_SERVING");
      const timer = setTimeout(() => {
        logger.warn(
          { graceMs },
          "in-flight calls still running at the shutdown deadline; cancelling them",
        );
        server.forceShutdown();
        resolve({ forced: true });
      }, graceMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve({ forced: false });
      });
    });
    return stopping;
  };

  return {
    address: `${hostPart}:${port}`,
    port,
    server,
    metrics,
    health,
    limits,
    shutdown,
  };
}
