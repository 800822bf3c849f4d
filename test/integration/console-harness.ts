import { pino } from "pino";
import { type ConnectOptions, EngineClient } from "../../host/client/index.js";
import { SingleNodeEngine } from "../../host/consensus/engine/single-node-engine.js";
import { MemoryStorage } from "../../host/consensus/storage/memory.js";
import { ReplicatedConsole } from "../../host/replication/console.js";
import { createConsoleMachine } from "../../host/replication/console-machine.js";
import type { ManifestPart } from "../../host/replication/manifest/manifest-part.js";
import { RegistryBuildHost } from "../../host/replication/manifest/registry-build-host.js";
import { ReplicatedManifest } from "../../host/replication/manifest-console.js";
import type { SessionLimits, SessionsPart } from "../../host/replication/sessions/session-part.js";
import {
  type CartridgeEngine,
  createEngine,
  InlineEngine,
  loadDirectory,
  type Registry,
} from "../../host/runtime/index.js";
import type { Authenticator } from "../../host/server/auth/authenticator.js";
import { createConsoleServices } from "../../host/server/console-services.js";
import type { Leadership } from "../../host/server/leader-forwarding.js";
import type { ServerLimits } from "../../host/server/limits.js";
import { ServerMetrics } from "../../host/server/metrics.js";
import { type RunningServer, startServer } from "../../host/server/server.js";
import { BUNDLED_CARTRIDGES } from "./harness.js";

/**
 * A real server with the replicated console: the bundled cartridges in a registry, the console
 * state machine (KV, manifest, sessions, checkpoint) driven by the single-node consensus engine over memory
 * storage, the `ReplicatedConsole` facade and the manifest operations, and the Engine, Sessions
 * and Manifest services on port 0, as the embedded default node wires them (host/node does the
 * same with its own config).
 */
export interface ConsoleHarness {
  readonly engine: CartridgeEngine;
  readonly registry: Registry;
  readonly consensus: SingleNodeEngine;
  readonly console: ReplicatedConsole;
  readonly sessions: SessionsPart;
  readonly manifest: ManifestPart;
  readonly server: RunningServer;
  readonly metrics: ServerMetrics;
  readonly client: EngineClient;
  close(): Promise<void>;
}

export interface ConsoleHarnessOptions {
  readonly limits?: Partial<ServerLimits>;
  readonly sessionLimits?: Partial<SessionLimits>;
  readonly connect?: ConnectOptions;
  /** Leadership as the services see it (default: the single-node engine's, at this server). */
  readonly leadership?: (own: Leadership) => Leadership;
  readonly forward?: boolean;
  /** Authentication (a tokens table): Deploy then records who deployed. Default open. */
  readonly authenticator?: Authenticator;
}

export async function startConsoleHarness(
  options: ConsoleHarnessOptions = {},
): Promise<ConsoleHarness> {
  // The manifest decides which builds exist: no automatic eviction.
  const { engine, registry } = createEngine({ evictOldBuilds: false });
  const loaded = await loadDirectory(registry, BUNDLED_CARTRIDGES);
  if (loaded.registered.length === 0) throw new Error(`no cartridges in ${BUNDLED_CARTRIDGES}`);
  const runtime = new InlineEngine(engine);
  const { machine, sessions, manifest } = createConsoleMachine({
    registry,
    runtime,
    sessionLimits: options.sessionLimits,
  });
  const consensus = new SingleNodeEngine({
    nodeId: "solo",
    storage: new MemoryStorage(),
    stateMachine: machine,
  });
  await consensus.start();
  const console = new ReplicatedConsole({ consensus, sessions, runtime });
  const metrics = new ServerMetrics({ collectProcessMetrics: false });
  const logger = pino({ level: "silent" });
  let address = "";
  const own: Leadership = {
    isLeader: () => consensus.isLeader(),
    status: () => ({ nodeId: "solo", leaderId: consensus.leaderId(), leaderAddress: address }),
  };
  const services = createConsoleServices({
    console,
    manifest: new ReplicatedManifest({
      consensus,
      manifest,
      host: new RegistryBuildHost(registry),
    }),
    leadership: options.leadership?.(own) ?? own,
    deps: { logger, metrics },
    authenticated: options.authenticator !== undefined && !options.authenticator.isOpen,
    forwarding: { forward: options.forward ?? true, forwardTimeoutMs: 5000 },
    limits: options.limits,
  });
  const server = await startServer({
    engine: runtime,
    metrics,
    logger,
    limits: options.limits,
    services: services.services,
    security:
      options.authenticator === undefined
        ? undefined
        : { authenticator: options.authenticator, insecure: false },
  });
  address = server.address;
  const client = await EngineClient.connect(server.address, options.connect);
  return {
    engine,
    registry,
    consensus,
    console,
    sessions,
    manifest,
    server,
    metrics,
    client,
    close: async () => {
      client.close();
      console.close();
      await server.shutdown(2000);
      services.close();
      await consensus.stop();
    },
  };
}
