import { SessionsService } from "../proto/generated/sessions/v1/sessions.js";
import type { ServiceDeps } from "./call-context.js";
import type { ForwardingOptions, Leadership } from "./leader-forwarding.js";
import { DEFAULT_LIMITS, type ServerLimits } from "./limits.js";
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
  return {
    services: [
      {
        name: SESSIONS_SERVICE_NAME,
        definition: SessionsService,
        implementation: sessions.implementation,
      },
    ],
    close: () => sessions.close(),
  };
}
