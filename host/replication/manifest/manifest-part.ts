import { createHash } from "node:crypto";
import type { ApplyContext } from "../../consensus/statemachine.js";
import { ReplicationError } from "../errors.js";
import { MANIFEST_LIMITS } from "../limits.js";
import { PART_TAGS, type StatePart } from "../part.js";
import type { BuildHost } from "./build-host.js";
import {
  type BuildInfo,
  decodeManifestBody,
  encodeManifestResult,
  type ManifestCommand,
  type ManifestResult,
} from "./manifest-commands.js";
import {
  type BuildRecord,
  decodeManifestState,
  type EnvRecord,
  encodeManifestState,
  type ManifestState,
} from "./manifest-state.js";
import { syncHost } from "./sync-host.js";

type Install = Extract<ManifestCommand, { op: "install" }>;

/** How the part is wired to the rest of the node. */
export interface ManifestPartOptions {
  /** Where applied builds are registered (this node's registry). */
  readonly host: BuildHost;
  /**
   * Whether an open session pins a build (`SessionsPart.isPinned`; asked at apply time, so it is
   * a function of the replicated state): such a build is neither retired nor evicted. Nothing is
   * pinned when absent.
   */
  readonly isPinned?: (envId: string, buildId: string) => boolean;
}

/**
 * The replicated cartridge manifest (part tag 2): which builds of which envs exist, which one is
 * each env's current build, who deployed each, and each env's allow-list of build hashes. Every
 * replica verifies and loads an installed module itself (through {@link BuildHost}), with the
 * same verdict, and registers it in its own registry, so every node serves the builds of the
 * applied manifest and nothing else.
 *
 * Restore is synchronous (the `StateMachine` contract): `restore` replaces the state at once and
 * starts bringing the registry back in line with it in the background; `settle()` returns that
 * work, and the root state machine awaits it before applying the next command, so no command
 * ever sees a registry that lags the manifest. Until it settles, reads of the registry (Engine
 * RPCs) may still see the builds of before the restore; the node can await
 * `ConsoleStateMachine.settled()` before serving. A failure to re-register a build that the
 * manifest holds is a fault of this node: the next apply fails and the replica halts.
 */
export class ManifestPart implements StatePart {
  readonly tag = PART_TAGS.manifest;
  readonly name = "manifest";
  private state: ManifestState = { envs: new Map(), allowLists: new Map(), totalBytes: 0 };
  private syncing: Promise<void> | undefined;

  constructor(private readonly options: ManifestPartOptions) {}

  apply(body: Uint8Array, context: ApplyContext): Uint8Array | Promise<Uint8Array> {
    const command = decodeManifestBody(body);
    switch (command.op) {
      case "install": {
        const result = this.install(command, context.index);
        return result instanceof Promise
          ? result.then(encodeManifestResult)
          : encodeManifestResult(result);
      }
      case "setCurrent":
        return encodeManifestResult(this.setCurrent(command.envId, command.buildId));
      case "retire":
        return encodeManifestResult(this.retire(command.envId, command.buildId));
      case "allow":
        return encodeManifestResult(this.allow(command.envId, command.sha256s));
    }
  }

  private install(command: Install, index: number): ManifestResult | Promise<ManifestResult> {
    const { envId, sha256 } = command;
    const actual = createHash("sha256").update(command.module).digest("hex");
    if (actual !== sha256) {
      throw new ReplicationError(
        "BadArgument",
        `the module's sha256 is ${actual}, not the ${sha256} the command names`,
      );
    }
    this.checkAllowed(envId, sha256);
    const env = this.state.envs.get(envId);
    const existing = env?.builds.get(sha256);
    if (env !== undefined && existing !== undefined) {
      if (command.makeCurrent) this.makeCurrent(env, existing);
      return { op: "install", build: this.info(existing), created: false, retired: [] };
    }
    if (env === undefined) this.checkNewEnv(envId);
    const victim = env === undefined ? undefined : this.evictionVictim(env);
    const total = this.state.totalBytes - (victim?.module.length ?? 0) + command.module.length;
    if (total > MANIFEST_LIMITS.maxTotalModuleBytes) {
      throw new ReplicationError(
        "LimitExceeded",
        `the manifest would hold ${total} module bytes; at most ${MANIFEST_LIMITS.maxTotalModuleBytes} are allowed`,
      );
    }
    return this.options.host.load(command.module).then((pending) => {
      if (pending.envId !== envId) {
        throw new ReplicationError(
          "BadModule",
          `the module declares env ${JSON.stringify(pending.envId)}, not ${JSON.stringify(envId)}`,
        );
      }
      if (pending.buildId !== sha256) {
        throw new Error(`the loader's build id ${pending.buildId} is not the sha256 ${sha256}`);
      }
      // Decided: from here on nothing may fail, so the state and the registry change together.
      const target = this.state.envs.get(envId) ?? { current: sha256, builds: new Map() };
      this.state.envs.set(envId, target);
      const retired: string[] = [];
      if (victim !== undefined) {
        this.drop(target, victim);
        retired.push(victim.buildId);
      }
      const record: BuildRecord = {
        envId,
        buildId: sha256,
        module: command.module.slice(),
        installedIndex: index,
        deployedBy: command.deployedBy,
      };
      target.builds.set(sha256, record);
      this.state.totalBytes += record.module.length;
      pending.add(command.makeCurrent);
      if (command.makeCurrent) target.current = sha256;
      return { op: "install", build: this.info(record), created: true, retired };
    });
  }

  private setCurrent(envId: string, buildId: string): ManifestResult {
    const { env, build } = this.find(envId, buildId);
    this.checkAllowed(envId, buildId);
    const previousBuildId = env.current;
    this.makeCurrent(env, build);
    return { op: "setCurrent", build: this.info(build), previousBuildId };
  }

  private retire(envId: string, buildId: string): ManifestResult {
    const { env, build } = this.find(envId, buildId);
    // The current build goes only as the env's last one: the env then goes away with it (the
    // single-node cartridges folder retires a deleted file's env this way, as hot reload always
    // removed it; added by the node helper, cnode).
    if (env.current === buildId && env.builds.size > 1) {
      throw new ReplicationError(
        "InUse",
        `build ${buildId} is the current build of env ${envId}; make another current first`,
      );
    }
    if (this.pinned(envId, buildId)) {
      throw new ReplicationError(
        "InUse",
        `build ${buildId} of env ${envId} is pinned by an open session`,
      );
    }
    this.drop(env, build);
    if (env.builds.size === 0) this.state.envs.delete(envId);
    return { op: "retire", envId, buildId };
  }

  private allow(envId: string, sha256s: readonly string[]): ManifestResult {
    if (!this.state.envs.has(envId) && !this.state.allowLists.has(envId) && sha256s.length > 0) {
      this.checkNewEnv(envId);
    }
    const sorted = [...sha256s].sort();
    if (sorted.length === 0) this.state.allowLists.delete(envId);
    else this.state.allowLists.set(envId, sorted);
    return { op: "allow", envId, sha256s: sorted };
  }

  private find(envId: string, buildId: string): { env: EnvRecord; build: BuildRecord } {
    const env = this.state.envs.get(envId);
    if (env === undefined)
      throw new ReplicationError("NotFound", `no env ${envId} in the manifest`);
    const build = env.builds.get(buildId);
    if (build === undefined) {
      throw new ReplicationError("NotFound", `env ${envId} has no build ${buildId}`);
    }
    return { env, build };
  }

  private checkAllowed(envId: string, buildId: string): void {
    const allowed = this.state.allowLists.get(envId);
    if (allowed !== undefined && !allowed.includes(buildId)) {
      throw new ReplicationError(
        "NotAllowed",
        `build ${buildId} is not in the allow-list of env ${envId}`,
      );
    }
  }

  private checkNewEnv(envId: string): void {
    const envs = new Set([...this.state.envs.keys(), ...this.state.allowLists.keys()]);
    if (!envs.has(envId) && envs.size >= MANIFEST_LIMITS.maxEnvs) {
      throw new ReplicationError(
        "LimitExceeded",
        `the manifest holds ${MANIFEST_LIMITS.maxEnvs} envs; retire one first`,
      );
    }
  }

  /**
   * The build an install into a full env retires: the oldest that is neither current nor pinned.
   * Undefined while the env has room; `LimitExceeded` when every build is current or pinned.
   */
  private evictionVictim(env: EnvRecord): BuildRecord | undefined {
    if (env.builds.size < MANIFEST_LIMITS.maxBuildsPerEnv) return undefined;
    for (const build of env.builds.values()) {
      if (build.buildId !== env.current && !this.pinned(build.envId, build.buildId)) return build;
    }
    throw new ReplicationError(
      "LimitExceeded",
      `env has ${MANIFEST_LIMITS.maxBuildsPerEnv} builds and each is current or pinned by a session`,
    );
  }

  private makeCurrent(env: EnvRecord, build: BuildRecord): void {
    if (env.current === build.buildId) return;
    this.options.host.setCurrent(build.envId, build.buildId);
    env.current = build.buildId;
  }

  private drop(env: EnvRecord, build: BuildRecord): void {
    this.options.host.remove(build.envId, build.buildId);
    env.builds.delete(build.buildId);
    this.state.totalBytes -= build.module.length;
  }

  private pinned(envId: string, buildId: string): boolean {
    return this.options.isPinned?.(envId, buildId) === true;
  }

  private info(build: BuildRecord): BuildInfo {
    return {
      envId: build.envId,
      buildId: build.buildId,
      current: this.state.envs.get(build.envId)?.current === build.buildId,
      installedIndex: build.installedIndex,
      deployedBy: build.deployedBy,
      sizeBytes: build.module.length,
    };
  }

  /** Every build, by env id and then install order (the read API). */
  listBuilds(envId?: string): BuildInfo[] {
    const envIds = envId === undefined ? [...this.state.envs.keys()].sort() : [envId];
    return envIds.flatMap((id) =>
      [...(this.state.envs.get(id)?.builds.values() ?? [])].map((build) => this.info(build)),
    );
  }

  /** The env's current build id, if the env exists (sessions pin it at create). */
  currentBuild(envId: string): string | undefined {
    return this.state.envs.get(envId)?.current;
  }

  /** True when the manifest holds this build of this env. */
  hasBuild(envId: string, buildId: string): boolean {
    return this.state.envs.get(envId)?.builds.has(buildId) === true;
  }

  /** The env's allow-list (sorted); empty when any build is allowed. */
  allowList(envId: string): readonly string[] {
    return this.state.allowLists.get(envId) ?? [];
  }

  /** The module bytes of a build (for export and tools); undefined when not held. */
  moduleBytes(envId: string, buildId: string): Uint8Array | undefined {
    return this.state.envs.get(envId)?.builds.get(buildId)?.module;
  }

  snapshot(): Uint8Array {
    return encodeManifestState(this.state);
  }

  restore(bytes: Uint8Array): void {
    this.replace(decodeManifestState(bytes));
  }

  reset(): void {
    this.replace({ envs: new Map(), allowLists: new Map(), totalBytes: 0 });
  }

  /** The registry re-sync after a restore or reset, while it runs (see the class comment). */
  settle(): Promise<void> | undefined {
    return this.syncing;
  }

  private replace(state: ManifestState): void {
    this.state = state;
    const previous = this.syncing ?? Promise.resolve();
    const syncing = previous
      .catch(() => undefined)
      .then(() => syncHost(this.options.host, state))
      .finally(() => {
        if (this.syncing === syncing) this.syncing = undefined;
      });
    this.syncing = syncing;
    // The root surfaces a failure at the next apply; this keeps it from being "unhandled" first.
    syncing.catch(() => undefined);
  }
}
