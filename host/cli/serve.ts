import { stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { type Logger, pino } from "pino";
import type { Engine, RegistryEvent } from "../runtime/engine.js";
import { isCartridgeError, LoadError } from "../runtime/errors.js";
import { createEngine, InlineEngine, loadDirectory } from "../runtime/index.js";
import { type CartridgeWatcher, watchCartridges } from "../runtime/watch.js";
import { WorkerEngine } from "../runtime/worker-engine.js";
import { resolveSecurity } from "../server/auth/security.js";
import { ServerMetrics } from "../server/metrics.js";
import { type MetricsEndpoint, serveMetrics } from "../server/metrics-http.js";
import { startServer } from "../server/server.js";
import { onShutdownSignal } from "../server/signals.js";

/** Options of `cartridge serve`, as commander parses them. */
interface ServeOptions {
  readonly cartridges: string;
  readonly host: string;
  readonly port: number;
  readonly watch: boolean;
  readonly metricsPort?: number;
  readonly logLevel: string;
  readonly shutdownGraceMs: number;
  /** Worker threads running cartridges; 0 runs them on the gRPC thread (not for production). */
  readonly workers: number;
  readonly callTimeoutMs: number;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly tlsClientCa?: string;
  readonly tokens?: string;
  readonly insecure: boolean;
}

function portNumber(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidArgumentError("expected a port number 0..65535");
  }
  return port;
}

function workerCount(value: string): number {
  const count = Number(value);
  if (!Number.isInteger(count) || count < 0 || count > 256) {
    throw new InvalidArgumentError("expected a number of workers 0..256");
  }
  return count;
}

function milliseconds(value: string): number {
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 0)
    throw new InvalidArgumentError("expected whole milliseconds");
  return ms;
}

/**
 * Reports a file that could not be loaded. The registry already reports (as a "rejected" event)
 * every module it refused; only failures before it, such as an oversized or unreadable file, are
 * reported here, so that each rejection is logged and counted once.
 */
function reportFileError(logger: Logger, metrics: ServerMetrics, source: string, error: unknown) {
  if (error instanceof LoadError && error.code !== "TooLarge") return;
  metrics.registryEvents.inc({ event: "rejected" });
  logger.error(
    { source, ...describeError(error) },
    "cartridge rejected; the env keeps its previous build, if any",
  );
}

/** One line a person can read for a load or validation failure. */
function describeError(error: unknown): { code: string; message: string } {
  if (isCartridgeError(error)) return { code: error.code, message: error.message };
  return { code: "Unknown", message: error instanceof Error ? error.message : String(error) };
}

function logRegistryEvent(logger: Logger, event: RegistryEvent): void {
  if (event.kind === "registered") {
    const fields = { envId: event.build.envId, buildId: event.build.buildId, source: event.source };
    if (event.replaced === undefined) logger.info(fields, "cartridge loaded");
    else logger.info({ ...fields, replacedBuildId: event.replaced }, "cartridge reloaded");
  } else if (event.kind === "unregistered") {
    logger.info({ envId: event.envId, source: event.source }, "cartridge unloaded");
  } else {
    logger.error(
      { source: event.source, code: event.code, reason: event.message },
      "cartridge rejected; the env keeps its previous build, if any",
    );
  }
}

/** Runs the server until SIGTERM/SIGINT. */
export async function runServe(options: ServeOptions): Promise<void> {
  const logger = pino({ level: options.logLevel, base: { service: "cartridge" } });
  const dir = resolve(options.cartridges);
  const info = await stat(dir).catch(() => undefined);
  if (info?.isDirectory() !== true) {
    throw new Error(
      `--cartridges ${options.cartridges}: not a folder (build the cartridges first?)`,
    );
  }

  // Security first: a server that would be exposed by accident must not load anything.
  const security = await resolveSecurity(options);
  if (security.posture.insecure) {
    logger.warn(
      { host: options.host, tls: options.tlsCert !== undefined, tokens: options.tokens },
      "serving INSECURE on a non-loopback address (--insecure): anyone who reaches it may call",
    );
  }

  const metrics = new ServerMetrics();
  const { engine, registry } = createEngine();
  registry.on((event: RegistryEvent) => {
    metrics.recordRegistryEvent(event);
    logRegistryEvent(logger, event);
    metrics.envsServed.set(engine.listEnvs().length);
  });
  await loadDirectory(registry, dir, (source, error) =>
    reportFileError(logger, metrics, source, error),
  );

  let watcher: CartridgeWatcher | undefined;
  if (options.watch) {
    watcher = await watchCartridges(registry, dir, {
      onError: (source, error) => reportFileError(logger, metrics, source, error),
    });
  }

  const pool =
    options.workers === 0
      ? undefined
      : new WorkerEngine(registry, {
          workers: options.workers,
          callTimeoutMs: options.callTimeoutMs,
        });
  await pool?.ready();
  if (pool === undefined) {
    // Instances live on this thread only without workers; the workers' own are not exported yet.
    metrics.observeInstancePools(() =>
      registry.list().map((caps) => {
        const { pool: instances } = registry.resolve(caps);
        return { envId: caps.envId, idle: instances.idleCount, created: instances.created };
      }),
    );
  }
  const served: Engine = pool ?? new InlineEngine(engine);
  const server = await startServer({
    engine: served,
    host: options.host,
    port: options.port,
    logger,
    metrics,
    limits: { shutdownGraceMs: options.shutdownGraceMs },
    security: security.security,
  });
  process.on("SIGHUP", () => {
    security.reloadTokens().then(
      () => logger.info({ tokens: options.tokens }, "tokens file reloaded"),
      (error: unknown) =>
        logger.error({ err: error }, "tokens file not reloaded; the previous one stays in force"),
    );
  });
  let metricsEndpoint: MetricsEndpoint | undefined;
  if (options.metricsPort !== undefined) {
    metricsEndpoint = await serveMetrics(metrics, options.host, options.metricsPort);
  }

  const envs = engine.listEnvs();
  // A human-readable banner on stderr; stdout stays pure JSON log lines for log shippers.
  const banner = [
    `cartridge engine listening on ${server.address}`,
    `  cartridges: ${dir}${options.watch ? " (watching for changes)" : ""}`,
    `  envs (${envs.length}): ${envs.map((c) => c.envId).join(", ") || "none"}`,
    `  workers: ${pool === undefined ? "none (cartridges run on the gRPC thread)" : `${pool.workers} threads, ${options.callTimeoutMs} ms watchdog`}`,
    `  metrics: ${metricsEndpoint?.url ?? "off (use --metrics-port)"}`,
    `  security: ${describePosture(options, security.posture.open, security.posture.insecure)}`,
    "  health and reflection enabled; SIGTERM/SIGINT shuts down gracefully",
  ];
  process.stderr.write(`${banner.join("\n")}\n`);
  logger.info(
    { address: server.address, envs: envs.map((c) => c.envId), metrics: metricsEndpoint?.url },
    "server started",
  );

  onShutdownSignal(logger, async () => {
    await watcher?.close();
    const result = await server.shutdown();
    // Guest code runs in workers, so the grace timer fires even with a runaway call in flight;
    // terminating the workers then stops it.
    await pool?.close();
    await metricsEndpoint?.close();
    logger.info({ forced: result.forced }, "server stopped");
  });
}

/** One banner line on how the server is protected. */
function describePosture(options: ServeOptions, open: boolean, insecure: boolean): string {
  const transport =
    options.tlsCert === undefined
      ? "plaintext"
      : options.tlsClientCa === undefined
        ? "TLS"
        : "TLS, client certificates required";
  const access = open ? "open (every caller may do everything)" : `tokens from ${options.tokens}`;
  return `${transport}; ${access}${insecure ? "; INSECURE (--insecure)" : ""}`;
}

/** The `serve` subcommand. */
export function serveCommand(): Command {
  return new Command("serve")
    .description("Serve the cartridges in a folder over gRPC (engine.v1.Engine).")
    .requiredOption("--cartridges <dir>", "folder of .wasm cartridges")
    .option("--host <host>", "interface to listen on", "127.0.0.1")
    .option("--port <port>", "gRPC port (0 picks a free one)", portNumber, 50051)
    .option("--watch", "reload cartridges when files are added, changed or removed", false)
    .option("--metrics-port <port>", "serve Prometheus metrics on this port", portNumber)
    .addOption(
      new Option("--log-level <level>", "log level")
        .choices(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
        .default("info"),
    )
    .option(
      "--shutdown-grace-ms <ms>",
      "how long shutdown waits for in-flight calls before cancelling them",
      milliseconds,
      10_000,
    )
    .option(
      "--workers <n>",
      "worker threads running cartridges (default: one per core; 0 runs them on the gRPC thread)",
      workerCount,
      availableParallelism(),
    )
    .option(
      "--call-timeout-ms <ms>",
      "wall-clock watchdog per cartridge call: a worker still running it is replaced",
      milliseconds,
      5000,
    )
    .option("--tls-cert <file>", "serve TLS with this PEM certificate (chain)")
    .option("--tls-key <file>", "the PEM private key of --tls-cert")
    .option("--tls-client-ca <file>", "require client certificates signed by this PEM CA")
    .option("--tokens <file>", "tokens file: who may call, with which roles (docs/security.md)")
    .option(
      "--insecure",
      "allow plaintext or open access on a non-loopback --host (logged and shown in health)",
      false,
    )
    .action(async function (this: Command, options: ServeOptions) {
      try {
        await runServe(options);
      } catch (error) {
        // Start-up problems (missing folder, port in use) are the operator's to fix: one clear
        // line, no stack trace.
        this.error(`serve: ${error instanceof Error ? error.message : String(error)}`, {
          exitCode: 1,
        });
      }
    });
}
