import { readdir } from "node:fs/promises";
import { resolve } from "node:path";
import type { BuildRef, EnvCapabilities } from "../runtime/engine.js";
import { envConflictMessage, LoadError } from "../runtime/errors.js";
import { loadCartridge } from "../runtime/loader.js";
import { readModuleFile } from "../runtime/module-file.js";
import type { LoadOptions } from "../runtime/sandbox-options.js";
import { resolveLimits } from "../runtime/sandbox-options.js";
import { type CartridgeWatcher, watchCartridges } from "../runtime/watch.js";

/**
 * Where the node's cartridge folder sends its modules: the replicated manifest. The registry a
 * node serves from changes only when a manifest command is applied, so a file in the folder is
 * never registered directly; it is proposed (on a follower, through the leader) and served once
 * the install is applied here. Contract:
 *
 * - `holds(buildId)` is a synchronous read of this node's applied manifest.
 * - `install` resolves once the install is applied on this node, with the build's capabilities;
 *   it rejects with the typed refusal (a manifest limit, an allow-list) or a consensus error.
 * - `removeEnvOf(envId)` takes an env away when its file is deleted: in single-node dev mode a
 *   retire of its builds through the log; a cluster node leaves the manifest alone (a file
 *   deleted from one node's folder must not take an env away from every node).
 */
export interface BuildSink {
  holds(build: BuildRef): boolean;
  install(bytes: Uint8Array, build: BuildRef, makeCurrent: boolean): Promise<EnvCapabilities>;
  removeEnvOf(envId: string, source: string): Promise<void>;
}

/** A validated file's build, and whether the file has just claimed its env. */
interface Claim {
  readonly build: BuildRef;
  readonly fresh: boolean;
}

/** How the folder reports what happened to each file. */
export interface FolderHooks {
  /** A file was installed (or was already held); the env serves its build. */
  readonly onInstalled?: (caps: EnvCapabilities, source: string) => void;
  /** A file was refused: unreadable, too large, not a valid module, or refused by the manifest. */
  readonly onError: (source: string, error: unknown) => void;
  /** A deleted file was dealt with (its env handed over, removed, or nothing for a refused file). */
  readonly onRemoved?: (source: string) => void;
}

/**
 * The node's cartridge folder: the files present at start, and (with `watch`) every later change,
 * each turned into a manifest command. One instance per node.
 *
 * One file per env id, first come first served: a file declaring an env that another file of the
 * folder provides is refused (`EnvConflict`, naming both files) and changes nothing, so that
 * `cp game.wasm backup.wasm` neither replaces the env nor, once `backup.wasm` is deleted, takes it
 * away. When the providing file goes, the first refused file (path order) for that env takes it
 * over, so a folder always ends with the same file serving an env whatever order events came in.
 */
export class CartridgeFolder {
  /** Which env each providing file provides, so that deleting the file can take that env away. */
  private readonly envOfSource = new Map<string, string>();
  /** The one file that provides each env. */
  private readonly sourceOfEnv = new Map<string, string>();
  /** Files refused with `EnvConflict`, with the env they declare. */
  private readonly refused = new Map<string, string>();
  private watcher: CartridgeWatcher | undefined;
  private readonly maxModuleBytes: number;
  /** Absolute, so that a file has one name whether found at start or reported by the watcher. */
  private readonly dir: string;

  constructor(
    dir: string,
    private readonly sink: BuildSink,
    private readonly hooks: FolderHooks,
    private readonly limits: LoadOptions = {},
  ) {
    this.dir = resolve(dir);
    this.maxModuleBytes = resolveLimits(limits).maxModuleBytes;
  }

  /**
   * Proposes every `*.wasm` file in the folder (name order) whose build the applied manifest does
   * not hold yet, making it current. A build it already holds (this node restarted from its WAL,
   * or another node proposed the same file) is not proposed again, so a restart never undoes a
   * later deploy of another build. One bad file does not keep the others from being served.
   */
  async loadAll(): Promise<void> {
    const names = (await readdir(this.dir, { withFileTypes: true }))
      .filter((entry) => entry.isFile() && entry.name.endsWith(".wasm"))
      .map((entry) => entry.name)
      .sort();
    for (const name of names) {
      const source = resolve(this.dir, name);
      try {
        const bytes = await readModuleFile(source, this.maxModuleBytes);
        const claim = await this.validate(source, bytes);
        if (!this.sink.holds(claim.build)) await this.installOrForget(source, bytes, claim);
      } catch (error) {
        this.hooks.onError(source, error);
      }
    }
  }

  /** Starts turning later changes of the folder into manifest commands. */
  async watch(): Promise<void> {
    this.watcher = await watchCartridges(
      {
        register: (bytes, source) => this.offer(source, bytes),
        unregisterSource: (source) => this.remove(source),
      },
      this.dir,
      { maxFileBytes: this.maxModuleBytes, onError: this.hooks.onError },
    );
  }

  get watching(): boolean {
    return this.watcher !== undefined;
  }

  /** Resolves when every change seen so far has been proposed and answered. */
  async settled(): Promise<void> {
    await this.watcher?.settled();
  }

  async close(): Promise<void> {
    await this.watcher?.close();
  }

  /**
   * Validates a module exactly as every replica's install will (the loader), so that a broken
   * file never reaches the log, and claims its env for the file (`EnvConflict` when another file
   * provides it). A file that now declares another env gives its old env up.
   */
  private async validate(source: string, bytes: Uint8Array): Promise<Claim> {
    const cartridge = await loadCartridge(bytes, { ...this.limits, source });
    const envId = cartridge.manifest.env_id;
    const owner = this.sourceOfEnv.get(envId);
    if (owner !== undefined && owner !== source) {
      this.refused.set(source, envId);
      throw new LoadError("EnvConflict", envConflictMessage(envId, owner), source);
    }
    this.refused.delete(source);
    const previous = this.envOfSource.get(source);
    if (previous !== undefined && previous !== envId) await this.release(source);
    this.envOfSource.set(source, envId);
    this.sourceOfEnv.set(envId, source);
    return { build: { envId, buildId: cartridge.buildId }, fresh: previous !== envId };
  }

  /** A file added or changed: validated, then installed; a failed install gives the env up. */
  private async offer(source: string, bytes: Uint8Array): Promise<EnvCapabilities> {
    return this.installOrForget(source, bytes, await this.validate(source, bytes));
  }

  /** Installs; a file whose first install fails does not keep its env from other files. */
  private async installOrForget(
    source: string,
    bytes: Uint8Array,
    { build, fresh }: Claim,
  ): Promise<EnvCapabilities> {
    try {
      return await this.install(source, bytes, build);
    } catch (error) {
      if (fresh) this.forget(source);
      throw error;
    }
  }

  /** Installs a validated module through the log and makes it its env's current build. */
  private async install(
    source: string,
    bytes: Uint8Array,
    build: BuildRef,
  ): Promise<EnvCapabilities> {
    const caps = await this.sink.install(bytes, build, true);
    this.hooks.onInstalled?.(caps, source);
    return caps;
  }

  /**
   * A file deleted: a refused file changes nothing; a providing file hands its env to the first
   * refused file for that env that loads, or else takes the env away.
   */
  private async remove(source: string): Promise<void> {
    this.refused.delete(source);
    await this.release(source);
    this.hooks.onRemoved?.(source);
  }

  /** Gives up the env `source` provides: to the next claimant, or by removing the env. */
  private async release(source: string): Promise<void> {
    const envId = this.forget(source);
    if (envId === undefined) return;
    const claimants = [...this.refused]
      .filter(([, declared]) => declared === envId)
      .map(([claimant]) => claimant)
      .sort();
    for (const claimant of claimants) {
      try {
        await this.offer(claimant, await readModuleFile(claimant, this.maxModuleBytes));
        return;
      } catch (error) {
        this.refused.delete(claimant);
        this.hooks.onError(claimant, error);
      }
    }
    await this.sink.removeEnvOf(envId, source);
  }

  /** Drops the bookkeeping of a providing file; returns the env it provided. */
  private forget(source: string): string | undefined {
    const envId = this.envOfSource.get(source);
    if (envId === undefined) return undefined;
    this.envOfSource.delete(source);
    if (this.sourceOfEnv.get(envId) === source) this.sourceOfEnv.delete(envId);
    return envId;
  }
}
