import type { MethodDefinition } from "@grpc/grpc-js";
import {
  type Build,
  type ManifestServer,
  ManifestService,
} from "../proto/generated/manifest/v1/manifest.js";
import type { Applied, ClientIds, ReadOptions } from "../replication/console.js";
import type { BuildInfo } from "../replication/manifest/manifest-commands.js";
import type { DeployRequest } from "../replication/manifest-console.js";
import { callerName } from "./auth/interceptor.js";
import { type ServiceDeps, unaryHandler } from "./call-context.js";
import { type ForwardingOptions, LeaderForwarder, type Leadership } from "./leader-forwarding.js";
import type { ServerLimits } from "./limits.js";
import { waitedRead } from "./read-wait.js";
import { idsOf } from "./request-ids.js";

/** Fully-qualified name of the Manifest service (health checks, reflection). */
export const MANIFEST_SERVICE_NAME = "manifest.v1.Manifest";

/** The applied manifest as the read API reports it. */
export interface ManifestListing {
  /** Builds by env id, then install order. */
  readonly builds: readonly BuildInfo[];
  /** Each env's non-empty allow-list of build hashes, by env id; hashes sorted. */
  readonly allowLists: readonly { readonly envId: string; readonly sha256s: readonly string[] }[];
}

/**
 * What the Manifest service needs from the replicated console (its manifest operations). The
 * contract of the writes is the sessions' (host/replication/console.ts): each proposes one command
 * with the caller's ids and resolves once it is applied here, with the log index; a refusal every
 * replica recorded alike is a `ReplicationError` (`BadModule`, `NotAllowed`, `InUse`,
 * `NotFound`, `LimitExceeded`, `BadArgument`); an unknown outcome a `ConsensusError`.
 *
 * - `deploy` validates the module here first, as the loader does, and takes its env id from the
 *   module's own manifest, so that a broken module never reaches the log; `sha256`, when given,
 *   must match the bytes. `deployedBy` is recorded with the build.
 * - `listBuilds` answers from this node's applied state after `minAppliedIndex`.
 */
export interface ManifestConsole {
  deploy(request: DeployRequest, ids: ClientIds): Promise<Applied & { readonly build: BuildInfo }>;
  setCurrent(envId: string, buildId: string, ids: ClientIds): Promise<Applied>;
  retire(envId: string, buildId: string, ids: ClientIds): Promise<Applied>;
  allow(envId: string, sha256s: readonly string[], ids: ClientIds): Promise<Applied>;
  listBuilds(envId: string | undefined, options: ReadOptions): Promise<ManifestListing>;
}

/** Options of the Manifest service. */
export interface ManifestServiceOptions {
  /** How mutating calls reach the leader. */
  readonly forwarding: ForwardingOptions;
  readonly limits: Pick<ServerLimits, "maxReadWaitMs">;
  /**
   * True when the server authenticates callers (its auth interceptor runs and sets the identity
   * metadata): Deploy then records the caller's identity as `deployed_by`. Off, the identity
   * metadata is whatever a client sent, so nothing is recorded ("").
   */
  readonly authenticated: boolean;
}

function toBuild(info: BuildInfo): Build {
  return {
    envId: info.envId,
    buildId: info.buildId,
    current: info.current,
    installedIndex: BigInt(info.installedIndex),
    deployedBy: info.deployedBy,
    sizeBytes: BigInt(info.sizeBytes),
  };
}

/**
 * The Manifest service over the replicated console. Writes run on the leader (a follower forwards
 * them, or refuses with UNAVAILABLE and the leader's address); ListBuilds is served here. The
 * roles (admin for writes, read for ListBuilds) are checked before a handler runs
 * (auth/roles.ts). `close()` stops forwarding.
 */
export function createManifestService(
  console: ManifestConsole,
  leadership: Leadership,
  deps: ServiceDeps,
  options: ManifestServiceOptions,
): { implementation: ManifestServer; close(): void } {
  const leader = new LeaderForwarder(leadership, options.forwarding);
  const hint = leader.withLeaderHint.bind(leader);
  const method = <Req, Res>(name: keyof typeof ManifestService) =>
    ManifestService[name] as unknown as MethodDefinition<Req, Res>;

  const implementation: ManifestServer = {
    deploy: unaryHandler(
      deps,
      "Deploy",
      (request, _ctx, _signal, call) => {
        const ids = idsOf(request);
        // Stamped by the node the caller reached, before any forwarding: the leader never sees the
        // caller's credentials.
        const deployedBy = options.authenticated ? (callerName(call.metadata) ?? "") : "";
        return leader.route(call, method("deploy"), async () => {
          const { index, build } = await console.deploy(
            {
              module: request.module,
              makeCurrent: request.makeCurrent,
              sha256: request.sha256 === "" ? undefined : request.sha256,
              deployedBy,
            },
            ids,
          );
          return { build: toBuild(build), index: BigInt(index) };
        });
      },
      hint,
    ),

    setCurrent: unaryHandler(
      deps,
      "SetCurrent",
      (request, _ctx, _signal, call) => {
        const ids = idsOf(request);
        return leader.route(call, method("setCurrent"), async () => {
          const { index } = await console.setCurrent(request.envId, request.buildId, ids);
          return { index: BigInt(index) };
        });
      },
      hint,
    ),

    retire: unaryHandler(
      deps,
      "Retire",
      (request, _ctx, _signal, call) => {
        const ids = idsOf(request);
        return leader.route(call, method("retire"), async () => {
          const { index } = await console.retire(request.envId, request.buildId, ids);
          return { index: BigInt(index) };
        });
      },
      hint,
    ),

    allow: unaryHandler(
      deps,
      "Allow",
      (request, _ctx, _signal, call) => {
        const ids = idsOf(request);
        return leader.route(call, method("allow"), async () => {
          const { index } = await console.allow(request.envId, request.buildIds, ids);
          return { index: BigInt(index) };
        });
      },
      hint,
    ),

    listBuilds: unaryHandler(deps, "ListBuilds", async (request, _ctx, signal) => {
      const listing = await waitedRead(
        signal,
        request.minAppliedIndex,
        options.limits.maxReadWaitMs,
        (readOptions) =>
          console.listBuilds(request.envId === "" ? undefined : request.envId, readOptions),
      );
      return {
        builds: listing.builds.map(toBuild),
        allowLists: listing.allowLists.map((list) => ({
          envId: list.envId,
          buildIds: [...list.sha256s],
        })),
      };
    }),
  };
  return { implementation, close: () => leader.close() };
}
