import type { ConsensusEngine } from "../consensus/engine/engine.js";
import { waitApplied } from "./applied-wait.js";
import type { Applied, ClientIds, ReadOptions } from "./console.js";
import { unwrapOutcome } from "./envelope.js";
import { ReplicationError } from "./errors.js";
import { MANIFEST_LIMITS } from "./limits.js";
import type { BuildHost } from "./manifest/build-host.js";
import {
  type BuildInfo,
  decodeManifestResult,
  encodeManifestCommand,
  type ManifestCommand,
  type ManifestResult,
} from "./manifest/manifest-commands.js";
import type { ManifestPart } from "./manifest/manifest-part.js";

/** What the manifest operations run over. */
export interface ManifestConsoleOptions {
  /** The consensus engine over the console state machine. */
  readonly consensus: ConsensusEngine;
  /** The manifest part of that state machine (read side). */
  readonly manifest: Pick<ManifestPart, "listBuilds" | "allowList">;
  /**
   * This node's build host (the manifest part's): `load` validates a module exactly as every
   * replica will at apply, registering nothing, so a broken module is refused before it is
   * proposed.
   */
  readonly host: Pick<BuildHost, "load">;
}

/** A build to deploy, as a client sends it (see `ReplicatedManifest.deploy`). */
export interface DeployRequest {
  readonly module: Uint8Array;
  readonly makeCurrent: boolean;
  /** The module's hex sha256, when the client states it; it must match the bytes. */
  readonly sha256?: string | undefined;
  /** Who deploys it (the caller's authenticated identity; "" when the server runs open). */
  readonly deployedBy: string;
}

/**
 * The manifest operations of the replicated console, as the Manifest gRPC service
 * (host/server/manifest-service.ts, `ManifestConsole`) uses them. Writes propose one command with
 * the caller's ids and resolve once it is applied here, with its log index; a refusal every
 * replica recorded alike rejects with its `ReplicationError`, an unknown outcome with a
 * `ConsensusError`. Reads answer from this node's applied state after `minAppliedIndex`.
 */
export class ReplicatedManifest {
  constructor(private readonly options: ManifestConsoleOptions) {}

  /**
   * Installs a build: validates `module` here first (the env id comes from its own manifest;
   * `sha256`, when given, must be the bytes' hash), then proposes it with `deployedBy`.
   */
  async deploy(
    request: DeployRequest,
    ids: ClientIds,
  ): Promise<Applied & { readonly build: BuildInfo }> {
    if (request.module.length > MANIFEST_LIMITS.maxModuleBytes) {
      throw new ReplicationError(
        "LimitExceeded",
        `module is ${request.module.length} bytes; at most ${MANIFEST_LIMITS.maxModuleBytes} are allowed`,
      );
    }
    const { envId, buildId } = await this.options.host.load(request.module);
    if (request.sha256 !== undefined && request.sha256 !== buildId) {
      throw new ReplicationError(
        "BadArgument",
        `the module's sha256 is ${buildId}, not the ${request.sha256.slice(0, 64)} the request names`,
      );
    }
    const { index, result } = await this.propose(
      {
        op: "install",
        envId,
        sha256: buildId,
        module: request.module,
        makeCurrent: request.makeCurrent,
        deployedBy: request.deployedBy,
      },
      ids,
    );
    if (result.op !== "install") throw unexpected(result);
    return { index, build: result.build };
  }

  /** Makes a build its env's current one. */
  async setCurrent(envId: string, buildId: string, ids: ClientIds): Promise<Applied> {
    return { index: (await this.propose({ op: "setCurrent", envId, buildId }, ids)).index };
  }

  /** Removes a build (`InUse` for the current build or one an open session pins). */
  async retire(envId: string, buildId: string, ids: ClientIds): Promise<Applied> {
    return { index: (await this.propose({ op: "retire", envId, buildId }, ids)).index };
  }

  /** Replaces an env's allow-list of build hashes (empty: any build). */
  async allow(envId: string, sha256s: readonly string[], ids: ClientIds): Promise<Applied> {
    return { index: (await this.propose({ op: "allow", envId, sha256s }, ids)).index };
  }

  /**
   * Builds (of `envId`, or of every env) and the allow-lists of the envs listed. An env that has
   * an allow-list but no build yet is listed only when asked for by id.
   */
  async listBuilds(
    envId: string | undefined,
    options: ReadOptions,
  ): Promise<{
    builds: BuildInfo[];
    allowLists: { envId: string; sha256s: readonly string[] }[];
  }> {
    await waitApplied(this.options.consensus, options);
    const builds = this.options.manifest.listBuilds(envId);
    const envIds = envId === undefined ? [...new Set(builds.map((b) => b.envId))] : [envId];
    const allowLists = envIds
      .map((id) => ({ envId: id, sha256s: this.options.manifest.allowList(id) }))
      .filter((list) => list.sha256s.length > 0);
    return { builds, allowLists };
  }

  private async propose(
    command: ManifestCommand,
    ids: ClientIds,
  ): Promise<{ index: number; result: ManifestResult }> {
    const encoded = encodeManifestCommand(command);
    const { index, result } = await this.options.consensus.propose(encoded, {
      clientId: ids.clientId,
      requestId: ids.requestId,
    });
    return { index, result: decodeManifestResult(unwrapOutcome(result)) };
  }
}

function unexpected(result: ManifestResult): ReplicationError {
  return new ReplicationError("BadCommand", `unexpected manifest result ${result.op}`);
}
