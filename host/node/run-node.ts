import { stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import type { Logger } from "pino";
import { ClusterService } from "../proto/generated/cluster/v1/cluster.js";
import { CheckpointScheduler } from "../replication/checkpoint/checkpoint-scheduler.js";
import { ReplicatedConsole } from "../replication/console.js";
import { createConsoleMachine } from "../replication/console-machine.js";
import { RegistryBuildHost } from "../replication/manifest/registry-build-host.js";
import { ReplicatedManifest } from "../replication/manifest-console.js";
import type { Engine, RegistryEvent } from "../runtime/engine.js";
import { isCartridgeError } from "../runtime/errors.js";
import { createEngine, InlineEngine } from "../runtime/index.js";
import { WorkerEngine } from "../runtime/worker-engine.js";
import { resolveSecurity } from "../server/auth/security.js";
import { ClusterMetrics } from "../server/cluster-metrics.js";
import { CLUSTER_SERVICE_NAME, createClusterService } from "../server/cluster-service.js";
import { createConsoleServices } from "../server/console-services.js";
import { forwardingSecurity } from "../server/forwarding.js";
import { ServerMetrics } from "../server/metrics.js";
import { type MetricsEndpoint, serveMetrics } from "../server/metrics-http.js";
import { startServer } from "../server/server.js";
import { isLoopbackHost, SecurityConfigError } from "../server/tls.js";
import { CartridgeFolder } from "./cartridge-folder.js";
import { ConsoleReplica } from "./cluster-node.js";
import { embeddedNodeConfig, type NodeConfig } from "./config.js";
import { createLogger, type LogLevel } from "./logger.js";
import { ManifestSink } from "./manifest-sink.js";
import { ReplicaHealth } from "./replica-health.js";
import { onShutdownSignal } from "./signals.js";

/** What `cartridge serve` asks for: its flags, and the node config when `--config` is given. */
export interface NodeSettings {
  /** Folder of cartridges; without it the node serves none (a cluster node may only hold KV). */
  readonly cartridges?: string | undefined;
  readonly host: string;
  readonly port: number;
  readonly watch: boolean;
  readonly metricsPort?: number | undefined;
  readonly logLevel: LogLevel;
  readonly shutdownGraceMs: number;
  /** Worker threads running cartridges (default one per core); 0 runs them on the gRPC thread. */
  readonly workers?: number | undefined;
  /** Further worker threads for unary calls only (WorkerEngineOptions.unaryWorkers; default 1). */
  readonly unaryWorkers?: number | undefined;
  /** Wall-clock watchdog per cartridge call in a worker, in ms (default 5,000). */
  readonly callTimeoutMs?: number | undefined;
  /** Fuel of the unary fast path on the gRPC thread (WorkerEngineOptions.inlineSliceFuel; 0 off). */
  readonly inlineSliceFuel?: number | undefined;
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: string | undefined;
  readonly tlsClientCa?: string | undefined;
  readonly tokens?: string | undefined;
  readonly insecure: boolean;
  /** The node config; without it, the single-node engine in memory, as in `npm start`. */
  readonly config?: NodeConfig | undefined;
}

/** How often health, leader-change counting and the status view are refreshed. */
const HEALTH_POLL_MS = 100;

/**
 * Reports a file of the cartridge folder that was refused: unreadable, too large, not a valid
 * module (the folder validates before proposing, so such a file never reaches the registry), or
 * refused by the manifest.
 */
function reportFileError(logger: Logger, metrics: ServerMetrics, source: string, error: unknown) {
  // The node is shutting down: the file was not refused, its proposal was abandoned.
  if (error instanceof Error && error.name === "AbortError") return;
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

/** Runs a node until SIGTERM/SIGINT: the composition root of `cartridge serve`. */
export async function runNode(options: NodeSettings): Promise<void> {
  const logger = createLogger(options.logLevel);
  const config = options.config ?? embeddedNodeConfig();
  const self = config.endpoints.get(config.nodeId);
  // A cluster node listens where its endpoint says; the flags say it otherwise.
  const host = self?.host ?? options.host;
  const port = self?.grpcPort ?? options.port;
  let dir: string | undefined;
  if (options.cartridges !== undefined) {
    dir = resolve(options.cartridges);
    const info = await stat(dir).catch(() => undefined);
    if (info?.isDirectory() !== true) {
      throw new Error(
        `--cartridges ${options.cartridges}: not a folder (build the cartridges first?)`,
      );
    }
  }

  // Security first: a server that would be exposed by accident must not load anything.
  // Flags win over the config's [tls] table.
  const settings: NodeSettings = {
    ...options,
    tlsCert: options.tlsCert ?? config.tls?.cert,
    tlsKey: options.tlsKey ?? config.tls?.key,
    tlsClientCa: options.tlsClientCa ?? config.tls?.clientCa,
  };
  const security = await resolveSecurity({ ...settings, host });
  checkConsensusSecurity(config, options.insecure);
  if (security.posture.insecure) {
    logger.warn(
      { host, tls: options.tlsCert !== undefined, tokens: options.tokens },
      "serving INSECURE on a non-loopback address (--insecure): anyone who reaches it may call",
    );
  }

  const metrics = new ServerMetrics();
  // The applied manifest decides which builds exist: the registry never evicts one by itself.
  const { engine, registry } = createEngine({ evictOldBuilds: false });
  // Guest code runs in worker threads, never on the thread that serves gRPC (issue 10).
  const workers = options.workers ?? availableParallelism();
  const pool =
    workers === 0
      ? undefined
      : new WorkerEngine(registry, {
          workers,
          callTimeoutMs: options.callTimeoutMs ?? 5000,
          ...(options.unaryWorkers === undefined ? {} : { unaryWorkers: options.unaryWorkers }),
          ...(options.inlineSliceFuel === undefined
            ? {}
            : { inlineSliceFuel: options.inlineSliceFuel }),
        });
  await pool?.ready();
  const served: Engine = pool ?? new InlineEngine(engine);
  if (pool !== undefined) metrics.observeWorkerPool(() => pool.poolUse());
  if (pool === undefined) {
    // Instances live on this thread only without workers; the workers' own are not exported yet.
    metrics.observeInstancePools(() =>
      registry.list().map((caps) => {
        const { pool: instances } = registry.resolve(caps);
        return { envId: caps.envId, idle: instances.idleCount, created: instances.created };
      }),
    );
  }
  registry.on((event: RegistryEvent) => {
    metrics.recordRegistryEvent(event);
    logRegistryEvent(logger, event);
    metrics.envsServed.set(engine.listEnvs().length);
  });
  // The replica starts before the gRPC port opens, so that a node never answers with state it
  // has not recovered from its WAL yet; the restored manifest re-registers its builds first.
  let walFsync: ((durationMs: number) => void) | undefined;
  let serverAddress = "";
  const parts = createConsoleMachine({ registry, runtime: served });
  const replica = await ConsoleReplica.start(
    config,
    () => serverAddress,
    logger,
    parts.machine,
    (durationMs) => walFsync?.(durationMs),
  );
  await parts.machine.settled();
  const replicated = new ReplicatedConsole({
    consensus: replica.engine,
    sessions: parts.sessions,
    runtime: served,
  });
  const manifest = new ReplicatedManifest({
    consensus: replica.engine,
    manifest: parts.manifest,
    host: new RegistryBuildHost(registry),
  });
  // The folder's builds reach the leader as a Deploy from this node, which has no caller's token
  // to pass on: only an open node sends them (a secured follower waits for the leader's manifest).
  const forward = security.security.tls === undefined && security.security.authenticator.isOpen;
  // A single node is its own leader: its folder is in the manifest before the port opens, as
  // `npm start` always did. A cluster node proposes through the leader, which needs the others
  // (and this node's server, for forwarding): after the port opens, in the background.
  const leadsAlone = config.members.length === 1;
  const sink = new ManifestSink({
    replica,
    manifest,
    applied: parts.manifest,
    registry,
    forward,
    removeOnDelete: leadsAlone,
    logger,
  });
  const folder =
    dir === undefined
      ? undefined
      : new CartridgeFolder(
          dir,
          sink,
          {
            onError: (source, error) => reportFileError(logger, metrics, source, error),
            onRemoved: (source) => logger.info({ source }, "cartridge file removed"),
          },
          registry.options,
        );
  if (leadsAlone) await folder?.loadAll();
  if (options.watch) await folder?.watch();

  // A follower relays the calls of every service to the leader in this node's own security mode (docs/security.md).
  const forwarding = {
    forward: true,
    forwardTimeoutMs: config.forwardTimeoutMs,
    security: await forwardingSecurity({
      certFile: settings.tlsCert,
      keyFile: settings.tlsKey,
      caFile: settings.tlsClientCa ?? config.consensusTls?.ca,
      tokens: !security.posture.open,
    }),
  };
  const cluster = createClusterService(replica, { logger, metrics }, forwarding);
  const consoleServices = createConsoleServices({
    console: replicated,
    manifest,
    // Deploy records who deployed a build when callers are identified (tokens or certificates).
    authenticated: !security.security.authenticator.isOpen || settings.tlsClientCa !== undefined,
    leadership: replica,
    deps: { logger, metrics },
    forwarding,
  });
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer({
      engine: served,
      host,
      port,
      logger,
      metrics,
      limits: { shutdownGraceMs: options.shutdownGraceMs },
      security: security.security,
      services: [
        {
          name: CLUSTER_SERVICE_NAME,
          definition: ClusterService,
          implementation: cluster.implementation,
        },
        ...consoleServices.services,
      ],
    });
  } catch (error) {
    cluster.close();
    consoleServices.close();
    sink.stop();
    await folder?.close();
    replicated.close();
    await replica.stop();
    throw error;
  }
  serverAddress = server.address;
  if (!leadsAlone) {
    folder?.loadAll().catch((error: unknown) => {
      logger.error({ err: error, dir }, "the cartridge folder could not be read");
    });
  }
  const clusterMetrics = new ClusterMetrics(metrics.registry, {
    ballot: () => replica.status().ballot,
    commitIndex: () => replica.status().commitIndex,
    appliedIndex: () => replica.status().appliedIndex,
    inQuorum: () => replica.status().inQuorum,
    peers: () => replica.peerTraffic(),
    engineStats: () => replica.engineStats(),
    checkpoints: () => {
      const view = parts.checkpoint.status();
      return { ...view, diverged: view.diverged !== undefined };
    },
  });
  walFsync = (durationMs) => clusterMetrics.walFsyncSeconds.observe(durationMs / 1000);
  replica.attachMetrics(clusterMetrics);
  // Health follows the quorum: a node cut off from it, or halted (a diverged replica, a failed
  // disk), says NOT_SERVING, so load balancers and clients go elsewhere.
  const health = new ReplicaHealth(
    replica,
    parts.checkpoint,
    server.health,
    ["", CLUSTER_SERVICE_NAME, ...consoleServices.services.map((service) => service.name)],
    logger,
  );
  health.start(HEALTH_POLL_MS);
  // The leader proposes the checkpoints the divergence detector compares; followers never do.
  const checkpoints = new CheckpointScheduler(replica.engine, parts.checkpoint, {
    intervalSlots: config.checkpointIntervalSlots,
  });
  checkpoints.start(HEALTH_POLL_MS);

  process.on("SIGHUP", () => {
    security.reloadTokens().then(
      () => logger.info({ tokens: options.tokens }, "tokens file reloaded"),
      (error: unknown) =>
        logger.error({ err: error }, "tokens file not reloaded; the previous one stays in force"),
    );
  });
  let metricsEndpoint: MetricsEndpoint | undefined;
  if (options.metricsPort !== undefined) {
    metricsEndpoint = await serveMetrics(metrics, host, options.metricsPort);
  }

  const envs = engine.listEnvs();
  // A human-readable banner on stderr; stdout stays pure JSON log lines for log shippers.
  const banner = [
    `cartridge engine listening on ${server.address}`,
    `  node: ${config.nodeId} (${config.engine}, ${config.members.length} member(s), storage ${config.storage.type === "wal" ? `wal ${config.storage.walPath}` : "memory"}${config.transport.type === "tcp" ? `, consensus on ${config.transport.bind}` : ""})`,
    `  cartridges: ${dir ?? "none (use --cartridges)"}${folder?.watching === true ? " (watching for changes)" : ""}`,
    `  envs (${envs.length}): ${envs.map((c) => c.envId).join(", ") || "none"}`,
    `  metrics: ${metricsEndpoint?.url ?? "off (use --metrics-port)"}`,
    `  security: ${describePosture(settings, security.posture.open, security.posture.insecure)}${config.transport.type === "tcp" ? `; consensus ${config.consensusTls === undefined ? "plaintext" : "mutual TLS"}` : ""}`,
    "  health and reflection enabled; SIGTERM/SIGINT shuts down gracefully",
  ];
  process.stderr.write(`${banner.join("\n")}\n`);
  logger.info(
    {
      address: server.address,
      nodeId: config.nodeId,
      engine: config.engine,
      envs: envs.map((c) => c.envId),
      metrics: metricsEndpoint?.url,
    },
    "server started",
  );

  onShutdownSignal(logger, async () => {
    health.close();
    checkpoints.stop();
    sink.stop();
    await folder?.close();
    replicated.close();
    const result = await server.shutdown();
    // Guest code runs in workers, so the grace timer fires even with a runaway call in flight;
    // terminating the workers then stops it.
    await pool?.close();
    cluster.close();
    consoleServices.close();
    await replica.stop();
    await metricsEndpoint?.close();
    logger.info({ forced: result.forced }, "server stopped");
  });
}

/** One banner line on how the server is protected. */
/**
 * The consensus port accepts ballots: on a non-loopback bind it must talk mutual TLS
 * ([consensus.tls]) unless the operator says --insecure.
 */
function checkConsensusSecurity(config: NodeConfig, insecure: boolean): void {
  if (config.transport.type !== "tcp" || config.consensusTls !== undefined || insecure) return;
  const bind = config.transport.bind;
  const host = bind.slice(0, bind.lastIndexOf(":"));
  if (!isLoopbackHost(host)) {
    throw new SecurityConfigError(
      `consensus.transport.bind ${bind} is not a loopback address: give [consensus.tls] ` +
        "(ca, cert, key from `cartridge certs init`) for mutual TLS between nodes, or pass --insecure",
    );
  }
}

function describePosture(options: NodeSettings, open: boolean, insecure: boolean): string {
  const transport =
    options.tlsCert === undefined
      ? "plaintext"
      : options.tlsClientCa === undefined
        ? "TLS"
        : "TLS, client certificates required";
  const access = open ? "open (every caller may do everything)" : `tokens from ${options.tokens}`;
  return `${transport}; ${access}${insecure ? "; INSECURE (--insecure)" : ""}`;
}
