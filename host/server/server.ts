import {
  type Server as GrpcServer,
  Server,
  type ServerCredentials,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { type Logger, pino } from "pino";
import type { Engine } from "../runtime/engine.js";
import { boundForMessage } from "../runtime/errors.js";
import type { Authenticator } from "./auth/authenticator.js";
import { authInterceptor } from "./auth/interceptor.js";
import { ENGINE_SERVICE_DEFINITION } from "./chunk-encoder.js";
import { createEngineService } from "./engine-service.js";
import { DEFAULT_LIMITS, type ServerLimits } from "./limits.js";
import { listenError } from "./listen-error.js";
import { tolerantService } from "./malformed-request.js";
import { ServerMetrics } from "./metrics.js";
import { addReflection } from "./reflection.js";
import { type ServerTlsFiles, serverCredentials } from "./tls.js";

/** Fully-qualified name of the Engine service, as health checks and reflection know it. */
export const ENGINE_SERVICE_NAME = "engine.v1.Engine";

/**
 * Health-check service name that reports SERVING when the server runs insecure on a non-loopback
 * address (`--insecure`), so that monitoring sees it; it is unknown (NOT_FOUND) otherwise.
 */
export const INSECURE_HEALTH_SERVICE = "cartridge.insecure";

/** Transport security and who may call what (see host/server/tls.ts `checkSecurity`). */
export interface ServerSecurity {
  /** TLS certificate, key and optional client CA; plaintext without. */
  readonly tls?: ServerTlsFiles | undefined;
  readonly authenticator: Authenticator;
  /** The operator accepted plaintext or open access on a non-loopback address. */
  readonly insecure: boolean;
}

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
  /** Without it: plaintext and open, which only a loopback bind should use. */
  readonly security?: ServerSecurity;
  /** More services on the same port (the Cluster service of a node), each with a health entry. */
  readonly services?: readonly ExtraService[];
}

/** A service served beside the Engine's. */
export interface ExtraService {
  /** Fully-qualified name, as health checks know it ("cluster.v1.Cluster"). */
  readonly name: string;
  readonly definition: ServiceDefinition;
  readonly implementation: UntypedServiceImplementation;
  /** Its .proto inside proto/ ("sessions/v1/sessions.proto"), so that reflection describes it. */
  readonly protoFile?: string;
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

function bind(
  server: GrpcServer,
  host: string,
  port: number,
  credentials: ServerCredentials,
): Promise<number> {
  // IPv6 literals need brackets in a gRPC target.
  const hostPart = host.includes(":") ? `[${host}]` : host;
  return new Promise((resolve, reject) => {
    server.bindAsync(`${hostPart}:${port}`, credentials, (error, bound) => {
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

  const security = options.security;
  const credentials = await serverCredentials(security?.tls);
  const authenticator = security?.authenticator;
  const server = new Server({
    "grpc.max_receive_message_length": limits.maxReceiveMessageBytes,
    "grpc.max_send_message_length": limits.maxSendMessageBytes,
    // An open server has nothing to check; a closed one checks every call of every service.
    interceptors: [
      ...(authenticator === undefined || authenticator.isOpen
        ? []
        : [
            authInterceptor(authenticator, (refused) => {
              metrics.authRefused.inc({
                error: refused.error.code,
                requirement: refused.requirement,
              });
              logger.warn(
                { path: refused.path, peer: refused.peer, error: refused.error.code },
                `call refused: ${refused.error.message}`,
              );
            }),
          ]),
    ],
    // Channelz stays on although nothing reads it: with it off (grpc-js 1.14), the server does not
    // track its sessions and forceShutdown leaves streams of a stalled client open.
  });
  // Handlers run after the auth interceptor: a refused caller learns nothing about its bytes.
  const onMalformed = (path: string, reason: string) => {
    logger.info({ path, reason: boundForMessage(reason) }, "request did not decode");
  };
  const engineService = tolerantService(
    ENGINE_SERVICE_DEFINITION,
    createEngineService(options.engine, { logger, metrics }, limits),
    onMalformed,
  );
  server.addService(engineService.definition, engineService.implementation);
  for (const extra of options.services ?? []) {
    const tolerant = tolerantService(extra.definition, extra.implementation, onMalformed);
    server.addService(tolerant.definition, tolerant.implementation);
  }
  const health = new HealthImplementation({ "": "SERVING", [ENGINE_SERVICE_NAME]: "SERVING" });
  for (const extra of options.services ?? []) health.setStatus(extra.name, "SERVING");
  if (security?.insecure === true) health.setStatus(INSECURE_HEALTH_SERVICE, "SERVING");
  health.addToServer(server);
  addReflection(
    server,
    (options.services ?? []).flatMap((extra) =>
      extra.protoFile === undefined ? [] : [extra.protoFile],
    ),
  );

  const port = await bind(server, host, options.port ?? 0, credentials);
  const hostPart = host.includes(":") ? `[${host}]` : host;
  metrics.envsServed.set(options.engine.listEnvs().length);

  let stopping: Promise<ShutdownResult> | undefined;
  const shutdown = (graceMs = limits.shutdownGraceMs): Promise<ShutdownResult> => {
    stopping ??= new Promise<ShutdownResult>((resolve) => {
      health.setStatus("", "NOT_SERVING");
      health.setStatus(ENGINE_SERVICE_NAME, "NOT_SERVING");
      for (const extra of options.services ?? []) health.setStatus(extra.name, "NOT_SERVING");
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
