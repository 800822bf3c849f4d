import type { ProposalResult } from "../../consensus/engine/engine.js";
import { unwrapOutcome } from "../envelope.js";
import { ReplicationError } from "../errors.js";
import { MANIFEST_LIMITS } from "../limits.js";
import type { BuildHost } from "./build-host.js";
import {
  type BuildInfo,
  checkEnvId,
  checkSha256,
  decodeManifestResult,
  encodeManifestCommand,
  type ManifestCommand,
  type ManifestResult,
} from "./manifest-commands.js";

/** The read side of the manifest part the facade answers from (this node's applied state). */
export interface ManifestReads {
  /** Every build (of `envId` only, if given), by env id then install order; copies. */
  listBuilds(envId?: string): BuildInfo[];
  /** The env's allow-list of build hashes, sorted; empty when any build is allowed. */
  allowList(envId: string): readonly string[];
}

/** What a deploy asks for. */
export interface DeployRequest {
  readonly module: Uint8Array;
  /** Make it its env's current build once installed (the first build of an env always is). */
  readonly makeCurrent: boolean;
  /** The caller's authenticated identity, stamped by this node; "" when auth is off. */
  readonly deployedBy: string;
}

/** What a deploy gave. */
export interface Deployed {
  readonly index: number;
  readonly build: BuildInfo;
  /** False when those bytes were already installed (the existing build is returned). */
  readonly created: boolean;
  /** Builds retired to make room (the oldest neither current nor pinned). */
  readonly retired: readonly string[];
}

/** The caller's client id and request id (the facade's `ClientIds`): retries apply once. */
interface Ids {
  readonly clientId: string;
  readonly requestId: number;
}

type Propose = (command: Uint8Array, ids: Ids) => Promise<ProposalResult>;

/**
 * The manifest operations of the facade: validate locally, propose one manifest command, decode
 * its outcome. A module the local loader refuses is rejected here (`BadModule`) and never
 * reaches the log; every replica still validates it again at apply.
 */
export class ManifestOps {
  constructor(
    private readonly propose: Propose,
    private readonly validator: Pick<BuildHost, "load">,
  ) {}

  async deploy(request: DeployRequest, ids: Ids): Promise<Deployed> {
    if (request.module.length > MANIFEST_LIMITS.maxModuleBytes) {
      throw new ReplicationError(
        "LimitExceeded",
        `module is ${request.module.length} bytes; at most ${MANIFEST_LIMITS.maxModuleBytes} are allowed`,
      );
    }
    const local = await this.validator.load(request.module);
    const { index, result } = await this.run(
      {
        op: "install",
        envId: local.envId,
        sha256: local.buildId,
        module: request.module,
        makeCurrent: request.makeCurrent,
        deployedBy: request.deployedBy,
      },
      ids,
    );
    if (result.op !== "install") throw unexpected(result);
    return { index, build: result.build, created: result.created, retired: result.retired };
  }

  async setCurrent(
    envId: string,
    buildId: string,
    ids: Ids,
  ): Promise<{ index: number; build: BuildInfo; previousBuildId: string }> {
    const { index, result } = await this.run({ op: "setCurrent", envId, buildId }, ids);
    if (result.op !== "setCurrent") throw unexpected(result);
    return { index, build: result.build, previousBuildId: result.previousBuildId };
  }

  async retire(envId: string, buildId: string, ids: Ids): Promise<{ index: number }> {
    const { index, result } = await this.run({ op: "retire", envId, buildId }, ids);
    if (result.op !== "retire") throw unexpected(result);
    return { index };
  }

  async allow(
    envId: string,
    sha256s: readonly string[],
    ids: Ids,
  ): Promise<{ index: number; sha256s: readonly string[] }> {
    const { index, result } = await this.run({ op: "allow", envId, sha256s }, ids);
    if (result.op !== "allow") throw unexpected(result);
    return { index, sha256s: result.sha256s };
  }

  private async run(
    command: ManifestCommand,
    ids: Ids,
  ): Promise<{ index: number; result: ManifestResult }> {
    const encoded = encodeManifestCommand(command);
    const { index, result } = await this.propose(encoded, ids);
    return { index, result: decodeManifestResult(unwrapOutcome(result)) };
  }
}

/** Checks the arguments of a read (`BadArgument`), so a bad env id is refused like a write's. */
export function checkBuildRead(envId: string | undefined, buildId?: string): void {
  if (envId !== undefined && envId !== "") checkEnvId(envId);
  if (buildId !== undefined) checkSha256(buildId, "build id");
}

function unexpected(result: ManifestResult): ReplicationError {
  return new ReplicationError("BadCommand", `unexpected manifest result ${result.op}`);
}
