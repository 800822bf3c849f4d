import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { ConsensusError } from "../consensus/core/errors.js";
import { ManifestClient } from "../proto/generated/manifest/v1/manifest.js";
import type { ClientIds } from "../replication/console.js";
import { ReplicationError } from "../replication/errors.js";
import type { ManifestPart } from "../replication/manifest/manifest-part.js";
import type { ReplicatedManifest } from "../replication/manifest-console.js";
import type { BuildRef, EnvCapabilities } from "../runtime/engine.js";
import type { Registry } from "../runtime/registry.js";
import type { BuildSink } from "./cartridge-folder.js";
import type { ConsoleReplica } from "./cluster-node.js";

/** Pause between attempts while no leader can take a folder's proposal, in ms (doubling). */
const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 2000;
/** One forwarded Deploy's deadline: the leader validates the module and commits it. */
const DEPLOY_TIMEOUT_MS = 15_000;
/** Consensus errors after which the same proposal may succeed later (on this or another leader). */
const RETRY_CONSENSUS: ReadonlySet<string> = new Set([
  "NotLeader",
  "Indeterminate",
  "Timeout",
  "Overloaded",
]);

/** An install a follower sends to the leader's Manifest service. */
interface RemoteInstall {
  readonly module: Uint8Array;
  readonly makeCurrent: boolean;
  readonly build: BuildRef;
}

/** What the sink needs around it. */
export interface ManifestSinkOptions {
  readonly replica: ConsoleReplica;
  /** The manifest operations (proposed on this node when it leads). */
  readonly manifest: Pick<ReplicatedManifest, "deploy" | "retire">;
  /** This node's applied manifest. */
  readonly applied: Pick<ManifestPart, "hasBuild" | "currentBuild" | "listBuilds">;
  readonly registry: Registry;
  /**
   * Whether a follower may send the folder's modules to the leader's Manifest service. Off when
   * the servers use TLS or tokens (the node holds no client credentials), as for forwarding: a
   * follower's folder then waits until this node leads or the leader holds the build.
   */
  readonly forward: boolean;
  /** Single-node dev mode: deleting a file retires its env's builds, as hot reload always did. */
  readonly removeOnDelete: boolean;
  readonly logger: Logger;
}

/**
 * The cartridge folder's way into the replicated manifest ({@link BuildSink}): the leader proposes
 * an install itself; a follower sends it to the leader's Manifest service (Deploy), then waits
 * until this node applied it. Retries through leader changes with the same client and request id,
 * so an install is applied once. `stop()` ends every retry loop.
 */
export class ManifestSink implements BuildSink {
  /** A fresh client id per process: request ids restart at 1, and a stale id would be a dupe. */
  private readonly clientId = `folder-${randomBytes(6).toString("hex")}`;
  private requestId = 0;
  private leaderClient: { address: string; client: ManifestClient } | undefined;
  private readonly stopping = new AbortController();

  constructor(private readonly options: ManifestSinkOptions) {}

  holds(build: BuildRef): boolean {
    return this.options.applied.hasBuild(build.envId, build.buildId);
  }

  async install(
    bytes: Uint8Array,
    build: BuildRef,
    makeCurrent: boolean,
  ): Promise<EnvCapabilities> {
    const done = () =>
      this.holds(build) &&
      (!makeCurrent || this.options.applied.currentBuild(build.envId) === build.buildId);
    await this.untilApplied(
      // A folder's build has no caller identity (manifest.v1: empty for a folder's builds).
      (ids) =>
        this.options.manifest.deploy(
          { module: bytes, makeCurrent, sha256: build.buildId, deployedBy: "" },
          ids,
        ),
      { module: bytes, makeCurrent, build },
      done,
    );
    return this.options.registry.resolve(build).capabilities;
  }

  /**
   * Retires the env's builds when its file is deleted (dev mode only: a file deleted from one
   * node's folder must not take an env away from a whole cluster). Builds pinned by an open
   * session stay. The current build goes last; the manifest refuses to retire it while it is not
   * the env's last build.
   */
  async removeEnvOf(envId: string, source: string): Promise<void> {
    if (!this.options.removeOnDelete) {
      this.options.logger.warn(
        { envId, source },
        "cartridge file deleted; a cluster node keeps the env in the manifest (retire its builds through the Manifest service)",
      );
      return;
    }
    const builds = this.options.applied.listBuilds(envId);
    const ordered = [...builds.filter((b) => !b.current), ...builds.filter((b) => b.current)];
    for (const build of ordered) {
      try {
        await this.untilApplied(
          (ids) => this.options.manifest.retire(envId, build.buildId, ids),
          undefined,
          () => !this.holds(build),
        );
      } catch (error) {
        if (!(error instanceof ReplicationError)) throw error;
        this.options.logger.warn(
          { envId, buildId: build.buildId, source, code: error.code, reason: error.message },
          "cartridge file deleted; its build stays in the manifest",
        );
      }
    }
  }

  /** Ends every retry loop (node shutdown). */
  stop(): void {
    this.stopping.abort();
    this.leaderClient?.client.close();
    this.leaderClient = undefined;
  }

  /**
   * Gets a change applied on this node: `here` proposes it when this node leads; a follower sends
   * an install (`remote`) to the leader's Manifest service. Settles as soon as `done()` holds
   * (another node may have proposed the same change). A refusal every replica agrees on is thrown
   * as its `ReplicationError`.
   */
  private async untilApplied(
    here: (ids: ClientIds) => Promise<unknown>,
    remote: RemoteInstall | undefined,
    done: () => boolean,
  ): Promise<void> {
    this.requestId += 1;
    const ids = { clientId: this.clientId, requestId: this.requestId };
    const { replica } = this.options;
    for (let attempt = 0; !done(); attempt += 1) {
      this.stopping.signal.throwIfAborted();
      try {
        if (replica.isLeader()) {
          await here(ids);
          return;
        }
        const leader = replica.status().leaderAddress;
        if (remote !== undefined && this.options.forward && leader !== undefined) {
          const index = await this.deployAt(leader, remote, ids);
          await replica.engine.waitForCommit(index);
          return;
        }
        if (attempt === 0 && remote !== undefined && !this.options.forward) {
          this.options.logger.warn(
            "a follower with TLS or tokens does not send its folder's builds to the leader; waiting until this node leads or the manifest holds the build (or use cartridge deploy)",
          );
        }
      } catch (error) {
        if (!retryable(error)) throw error;
      }
      const pauseMs = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(attempt, 10));
      await sleep(pauseMs, undefined, { signal: this.stopping.signal });
    }
  }

  /** Deploy at the leader's Manifest service; resolves with the log index of the install. */
  private deployAt(
    address: string,
    { module, makeCurrent, build }: RemoteInstall,
    ids: ClientIds,
  ): Promise<number> {
    if (this.leaderClient?.address !== address) {
      this.leaderClient?.client.close();
      this.leaderClient = {
        address,
        client: new ManifestClient(address, credentials.createInsecure(), {
          "grpc.max_send_message_length": module.length + 64 * 1024,
        }),
      };
    }
    const { client } = this.leaderClient;
    const request = {
      clientId: ids.clientId,
      requestId: BigInt(ids.requestId),
      module: Buffer.from(module.buffer, module.byteOffset, module.byteLength),
      makeCurrent,
      // The leader checks that the bytes it received are the bytes validated here.
      sha256: build.buildId,
    };
    return new Promise((resolve, reject) => {
      client.deploy(
        request,
        new Metadata(),
        { deadline: Date.now() + DEPLOY_TIMEOUT_MS },
        (error, response) => {
          if (error === null) resolve(Number(response.index));
          else reject(error);
        },
      );
    });
  }
}

/** Whether a failed attempt may succeed later (a leader change, an unknown outcome). */
function retryable(error: unknown): boolean {
  if (error instanceof ConsensusError) return RETRY_CONSENSUS.has(error.code);
  if (error instanceof ReplicationError) return false;
  const code = (error as Partial<ServiceError>).code;
  return code === status.UNAVAILABLE || code === status.DEADLINE_EXCEEDED;
}
