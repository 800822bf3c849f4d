import type { EnvCapabilities, EnvSelector, RegistryEvent } from "./engine.js";
import { CallError, envConflictMessage, LoadError, quoteForMessage } from "./errors.js";
import { DEFAULT_MAX_IDLE_INSTANCE_BYTES, IdleInstances } from "./idle-instances.js";
import { InstancePool } from "./instance-pool.js";
import { type GuestProber, type LoadedCartridge, loadCartridge } from "./loader.js";
import { legalMaskBytes } from "./manifest.js";
import type { LoadOptions } from "./sandbox-options.js";

/** Options of a registry: the sandbox limits for every module plus how much it keeps. */
export interface RegistryOptions extends LoadOptions {
  /** Builds kept per env, the current one included (default 4); older ones are dropped. */
  readonly maxBuildsPerEnv?: number;
  /**
   * False when something else decides which builds exist (the replicated manifest, through
   * `install`, `setCurrent` and `remove`): no build is then ever dropped automatically, and
   * `maxBuildsPerEnv` is not applied. Default true (the folder-driven registry).
   */
  readonly evictOldBuilds?: boolean;
  /** Idle instances kept per build (default 4). */
  readonly maxIdleInstances?: number;
  /** Where loads run guest code (default: the process's shared `LoadProbe`). */
  readonly probe?: GuestProber;
  /**
   * Most bytes of linear memory the idle instances of all builds hold on this thread (default
   * 256 MiB); beyond, the instance idle longest is dropped. Worker threads apply the same cap each.
   */
  readonly maxIdleInstanceBytes?: number;
  /**
   * Most envs a folder-driven registry serves (default 256): a file declaring one more env is
   * refused with `TooManyEnvs`. A manifest-driven registry is bounded by the manifest's own
   * limit (replication/limits.ts), enforced in apply on every replica.
   */
  readonly maxEnvs?: number;
}

/** Envs a folder-driven registry serves at most, by default. */
export const DEFAULT_MAX_ENVS = 256;

/** Options of {@link Registry.install}. */
export interface InstallOptions {
  /**
   * Make the build its env's current one. The first build of an env always becomes current (an
   * env always has a current build), whatever this says.
   */
  readonly makeCurrent: boolean;
}

/** One loaded build with its capabilities and instance pool. */
export interface RegisteredBuild {
  readonly cartridge: LoadedCartridge;
  readonly capabilities: EnvCapabilities;
  readonly pool: InstancePool;
}

interface EnvEntry {
  current: string;
  /** Builds by build id, oldest first. */
  readonly builds: Map<string, RegisteredBuild>;
}

/** What ListEnvs and GetCapabilities report for a loaded build. */
export function capabilitiesOf(cartridge: LoadedCartridge): EnvCapabilities {
  return {
    envId: cartridge.manifest.env_id,
    buildId: cartridge.buildId,
    manifest: cartridge.manifest,
    infoBytes: cartridge.sizes.infoBytes,
    legalMaskBytes: cartridge.hasLegalActions ? legalMaskBytes(cartridge.manifest.action_space) : 0,
    maxBatch: cartridge.maxBatch,
    maxRolloutSteps: cartridge.maxRolloutSteps,
    source: cartridge.source,
  };
}

/**
 * The set of loaded cartridges, keyed by env id. Each env has a current build and keeps a bounded
 * number of older builds so that clients pinned to a build id keep working across reloads. A
 * module that fails to load never replaces anything.
 *
 * Two ways to drive it:
 * - folder-driven (`register`, `unregisterSource`): a file's newest bytes become current and old
 *   builds are evicted beyond `maxBuildsPerEnv`;
 * - manifest-driven (`install`, `setCurrent`, `remove`, with `evictOldBuilds: false`): the
 *   caller (the replicated manifest) decides which builds exist and which is current; the registry
 *   never drops one by itself. These calls do not touch the per-source bookkeeping of the
 *   folder-driven calls.
 */
export class Registry {
  private readonly envs = new Map<string, EnvEntry>();
  /** Which env each source (file) last registered. */
  private readonly sources = new Map<string, string>();
  /** Sources refused because another source provides their env id (see `refuseSecondSource`). */
  private readonly refused = new Map<string, string>();
  private readonly listeners = new Set<(event: RegistryEvent) => void>();
  private readonly maxBuildsPerEnv: number;
  private readonly maxIdleInstances: number;
  private readonly maxEnvs: number;
  /** The idle instances of every build's pool on this thread, bounded in bytes. */
  readonly idle: IdleInstances;

  constructor(readonly options: RegistryOptions = {}) {
    const folderDriven = options.evictOldBuilds !== false;
    this.maxBuildsPerEnv = folderDriven
      ? Math.max(1, options.maxBuildsPerEnv ?? 4)
      : Number.POSITIVE_INFINITY;
    this.maxEnvs = folderDriven ? (options.maxEnvs ?? DEFAULT_MAX_ENVS) : Number.POSITIVE_INFINITY;
    this.maxIdleInstances = Math.max(0, options.maxIdleInstances ?? 4);
    this.idle = new IdleInstances(options.maxIdleInstanceBytes ?? DEFAULT_MAX_IDLE_INSTANCE_BYTES);
  }

  /** Subscribes to registry events; returns a function that unsubscribes. */
  on(listener: (event: RegistryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: RegistryEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  /**
   * Loads `bytes` with this registry's sandbox limits without registering anything. Throws the
   * `LoadError` (after emitting a `rejected` event) when the module is bad.
   */
  async load(bytes: Uint8Array, source: string, sourceMap?: string): Promise<LoadedCartridge> {
    try {
      return await loadCartridge(bytes, {
        ...this.options,
        source,
        ...(sourceMap === undefined ? {} : { sourceMap }),
      });
    } catch (error) {
      if (error instanceof LoadError) {
        this.emit({ kind: "rejected", source, code: error.code, message: error.message });
      }
      throw error;
    }
  }

  /**
   * Loads `bytes` and makes it the current build of its env. Throws the `LoadError` (after
   * emitting a `rejected` event) when the module is bad; the registry is then unchanged.
   */
  async register(bytes: Uint8Array, source: string, sourceMap?: string): Promise<EnvCapabilities> {
    const cartridge = await this.load(bytes, source, sourceMap);
    const envId = cartridge.manifest.env_id;
    const previousEnv = this.sources.get(source);
    if (previousEnv !== undefined && previousEnv !== envId) {
      // The file now holds a different env: the old env it provided goes away with it.
      this.unregisterEnvOf(source, previousEnv);
      this.sources.delete(source);
    }
    this.refuseSecondSource(source, envId);
    this.refuseNewEnvBeyondCap(source, envId);
    const capabilities = this.add(cartridge, { makeCurrent: true });
    this.sources.set(source, envId);
    return capabilities;
  }

  /**
   * Loads `bytes` and adds the build to its env, current or not (see {@link InstallOptions}).
   * Installing a build that is already there keeps it (and its instances). Throws the
   * `LoadError` when the module is bad; the registry is then unchanged.
   */
  async install(
    bytes: Uint8Array,
    source: string,
    options: InstallOptions,
  ): Promise<EnvCapabilities> {
    return this.add(await this.load(bytes, source), options);
  }

  /**
   * Adds a loaded build (from {@link load}) to its env; synchronous, so a caller can decide
   * between loading and adding whether the build should be added at all.
   */
  add(cartridge: LoadedCartridge, options: InstallOptions): EnvCapabilities {
    const envId = cartridge.manifest.env_id;
    let entry = this.envs.get(envId);
    const replaced = entry?.current;
    if (entry === undefined) {
      entry = { current: cartridge.buildId, builds: new Map() };
      this.envs.set(envId, entry);
    }
    const existing = entry.builds.get(cartridge.buildId);
    // The same bytes offered by another file (a rename, a copy) now come from that file, so that
    // removing the old file does not take the env away; the instances are reused either way.
    const build: RegisteredBuild =
      existing !== undefined && existing.cartridge.source === cartridge.source
        ? existing
        : {
            cartridge,
            capabilities: capabilitiesOf(cartridge),
            pool: existing?.pool ?? new InstancePool(cartridge, this.maxIdleInstances, this.idle),
          };
    // Re-inserting moves the build to the newest position.
    entry.builds.delete(cartridge.buildId);
    entry.builds.set(cartridge.buildId, build);
    if (options.makeCurrent) entry.current = cartridge.buildId;
    for (const id of entry.builds.keys()) {
      if (entry.builds.size <= this.maxBuildsPerEnv) break;
      if (id !== entry.current) this.dropBuild(entry, id);
    }
    this.emit({
      kind: "registered",
      build: { envId, buildId: cartridge.buildId },
      source: cartridge.source,
      ...(replaced !== undefined && replaced !== entry.current ? { replaced } : {}),
    });
    return build.capabilities;
  }

  /** Makes a kept build its env's current one; throws `UnknownEnv` or `UnknownBuild`. */
  setCurrent(envId: string, buildId: string): EnvCapabilities {
    const build = this.resolve({ envId, buildId });
    const entry = this.envs.get(envId);
    if (entry === undefined || entry.current === buildId) return build.capabilities;
    const replaced = entry.current;
    entry.current = buildId;
    this.emit({
      kind: "registered",
      build: { envId, buildId },
      source: build.cartridge.source,
      replaced,
    });
    return build.capabilities;
  }

  /**
   * Removes one build. The current build can only be removed when it is its env's last build
   * (the env then goes away); otherwise make another current first. Returns false when there
   * was no such build; throws `BadArgument` for the current build of an env with others.
   */
  remove(envId: string, buildId: string): boolean {
    const entry = this.envs.get(envId);
    const build = entry?.builds.get(buildId);
    if (entry === undefined || build === undefined) return false;
    if (entry.current === buildId && entry.builds.size > 1) {
      throw new CallError(
        "BadArgument",
        `build ${quoteForMessage(buildId)} is the current build of env ${quoteForMessage(envId)}; make another current first`,
        envId,
      );
    }
    this.dropBuild(entry, buildId);
    if (entry.builds.size === 0) this.envs.delete(envId);
    this.emit({ kind: "unregistered", envId, source: build.cartridge.source, buildId });
    return true;
  }

  /**
   * One source per env id, first come first served: a file declaring an env that another file
   * provides is refused (`EnvConflict`, naming both) and remembered, and changes nothing, so
   * that a copy (`cp game.wasm backup.wasm`) neither replaces the env nor takes it away when the
   * copy is deleted. The watcher offers refused files again, in path order, when the env goes.
   */
  private refuseSecondSource(source: string, envId: string): void {
    const owner = this.ownerOf(envId);
    if (owner === undefined || owner === source) {
      this.refused.delete(source);
      return;
    }
    this.refused.set(source, envId);
    const message = envConflictMessage(envId, owner);
    this.emit({ kind: "rejected", source, code: "EnvConflict", message });
    throw new LoadError("EnvConflict", message, source);
  }

  /** A new env beyond `maxEnvs` is refused (`TooManyEnvs`); a file's own env is not new. */
  private refuseNewEnvBeyondCap(source: string, envId: string): void {
    if (this.envs.has(envId) || this.envs.size < this.maxEnvs) return;
    const message = `declares env ${quoteForMessage(envId)}, but ${this.envs.size} envs are served already (the limit); remove one first`;
    this.emit({ kind: "rejected", source, code: "TooManyEnvs", message });
    throw new LoadError("TooManyEnvs", message, source);
  }

  /** Forgets a build and its idle instances. */
  private dropBuild(entry: EnvEntry, buildId: string): void {
    entry.builds.get(buildId)?.pool.close();
    entry.builds.delete(buildId);
  }

  /**
   * Files refused with `EnvConflict` (and not removed or changed since) whose env no file
   * provides any more, in path order: the first of them may now take it.
   */
  claimableSources(): string[] {
    return [...this.refused]
      .filter(([, envId]) => this.ownerOf(envId) === undefined)
      .map(([source]) => source)
      .sort();
  }

  /** The source that provides `envId` through the folder-driven calls, if any. */
  private ownerOf(envId: string): string | undefined {
    const entry = this.envs.get(envId);
    const owner = entry?.builds.get(entry.current)?.cartridge.source;
    return owner !== undefined && this.sources.get(owner) === envId ? owner : undefined;
  }

  private unregisterEnvOf(source: string, envId: string): void {
    const entry = this.envs.get(envId);
    const current = entry?.builds.get(entry.current);
    if (entry === undefined || current?.cartridge.source !== source) return;
    for (const id of [...entry.builds.keys()]) this.dropBuild(entry, id);
    this.envs.delete(envId);
    this.emit({ kind: "unregistered", envId, source });
  }

  /**
   * Removes the env whose current build came from `source` (with all its builds). Returns false
   * when the source provides nothing.
   */
  unregisterSource(source: string): boolean {
    this.refused.delete(source);
    const envId = this.sources.get(source);
    if (envId === undefined) return false;
    this.sources.delete(source);
    const had = this.envs.has(envId);
    this.unregisterEnvOf(source, envId);
    return had && !this.envs.has(envId);
  }

  /** Capabilities of every env's current build, sorted by env id. */
  list(): EnvCapabilities[] {
    return [...this.envs.keys()].sort().map((envId) => this.resolve({ envId }).capabilities);
  }

  /** Every kept build of `envId`, oldest first. */
  builds(envId: string): EnvCapabilities[] {
    return [...(this.envs.get(envId)?.builds.values() ?? [])].map((b) => b.capabilities);
  }

  /** The selected build: the current one, or the pinned `buildId`. */
  resolve(selector: EnvSelector): RegisteredBuild {
    const entry = this.envs.get(selector.envId);
    if (entry === undefined) {
      throw new CallError(
        "UnknownEnv",
        `no env named ${quoteForMessage(selector.envId)}`,
        selector.envId,
      );
    }
    // An empty build id (the protobuf default) means "current", like an absent one.
    const buildId =
      selector.buildId === undefined || selector.buildId === "" ? entry.current : selector.buildId;
    const build = entry.builds.get(buildId);
    if (build === undefined) {
      throw new CallError(
        "UnknownBuild",
        `env ${selector.envId} has no build ${quoteForMessage(buildId)} (kept: ${[...entry.builds.keys()].join(", ")})`,
        selector.envId,
      );
    }
    return build;
  }
}
