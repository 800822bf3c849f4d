import { ManifestService } from "../proto/generated/manifest/v1/manifest.js";
import { SessionsService } from "../proto/generated/sessions/v1/sessions.js";
import type { ServiceDeps } from "./call-context.js";
import type { ForwardingOptions, Leadership } from "./leader-forwarding.js";
import { DEFAULT_LIMITS, type ServerLimits } from "./limits.js";
import {
  createManifestService,
  MANIFEST_SERVICE_NAME,
  type ManifestConsole,
} from "./manifest-service.js";
import type { ExtraService } from "./server.js";
import {
  createSessionsService,
  SESSIONS_SERVICE_NAME,
  type SessionsConsole,
} from "./sessions-service.js";

/** What the replicated console's services need (the composition root, host/node, supplies it). */
export interface ConsoleServicesOptions {
  /** The replicated console (host/replication/console.ts). */
  readonly console: SessionsConsole;
  /** Its manifest operations; without them the Manifest service is not served. */
  readonly manifest?: ManifestConsole | undefined;
  /**
   * True when the server authenticates callers (a tokens file or client certificates): Deploy
   * then records who deployed each build.
   */
  readonly authenticated: boolean;
  /** Who leads, for forwarding and leader hints (a single node always leads). */
  readonly leadership: Leadership;
  /** The server's logger and metrics (the same `ServerMetrics` as `startServer`'s). */
  readonly deps: ServiceDeps;
  /** How mutating calls reach the leader. */
  readonly forwarding: ForwardingOptions;
  /** The server's limits, as given to `startServer` (defaults filled in here). */
  readonly limits?: Partial<ServerLimits>;
}

/**
 * The gRPC services of the replicated console, ready for `startServer({ services })`: one call
 * for the composition root to wire them all the same way. `close()` releases their connections to
 * the leader; call it after the server shut down.
 */
export function createConsoleServices(options: ConsoleServicesOptions): {
  services: ExtraService[];
  close(): void;
} {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const sessions = createSessionsService(options.console, options.leadership, options.deps, {
    forwarding: options.forwarding,
    limits,
  });
  const services: ExtraService[] = [
    {
      name: SESSIONS_SERVICE_NAME,
      definition: SessionsService,
      implementation: sessions.implementation,
      protoFile: "sessions/v1/sessions.proto",
    },
  ];
  const closers = [() => sessions.close()];
  if (options.manifest !== undefined) {
    const manifest = createManifestService(options.manifest, options.leadership, options.deps, {
      forwarding: options.forwarding,
      limits,
      authenticated: options.authenticated,
    });
    services.push({
      name: MANIFEST_SERVICE_NAME,
      definition: ManifestService,
      implementation: manifest.implementation,
      protoFile: "manifest/v1/manifest.proto",
    });
    closers.push(() => manifest.close());
  }
  return {
    services,
    close: () => {
      for (const close of closers) close();
    },
  };
}
