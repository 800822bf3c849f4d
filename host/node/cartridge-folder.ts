import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { BuildRef, EnvCapabilities } from "../runtime/engine.js";
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

/** How the folder reports what happened to each file. */
export interface FolderHooks {
  /** A file was installed (or was already held); the env serves its build. */
  readonly onInstalled?: (caps: EnvCapabilities, source: string) => void;
  /** A file was refused: unreadable, too large, not a valid module, or refused by the manifest. */
  readonly onError: (source: string, error: unknown) => void;
}

/**
 * The node's cartridge folder: the files present at start, and (with `watch`) every later change,
 * each turned into a manifest command. One instance per node.
 */
export class CartridgeFolder {
  /** Which env each file last provided, so that deleting the file can take that env away. */
  private readonly envOfSource = new Map<string, string>();
  private watcher: CartridgeWatcher | undefined;
  private readonly maxModuleBytes: number;

  constructor(
    private readonly dir: string,
    private readonly sink: BuildSink,
    private readonly hooks: FolderHooks,
    private readonly limits: LoadOptions = {},
  ) {
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
      const source = join(this.dir, name);
      try {
        const bytes = await readModuleFile(source, this.maxModuleBytes);
        const build = await this.validate(source, bytes);
        if (!this.sink.holds(build)) await this.install(source, bytes, build);
      } catch (error) {
        this.hooks.onError(source, error);
      }
    }
  }

  /** Starts turning later changes of the folder into manifest commands. */
  async watch(): Promise<void> {
    this.watcher = await watchCartridges(
      {
        register: async (bytes, source) =>
          this.install(source, bytes, await this.validate(source, bytes)),
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
   * file never reaches the log, and notes which env the file provides.
   */
  private async validate(source: string, bytes: Uint8Array): Promise<BuildRef> {
    const cartridge = await loadCartridge(bytes, { ...this.limits, source });
    this.envOfSource.set(source, cartridge.manifest.env_id);
    return { envId: cartridge.manifest.env_id, buildId: cartridge.buildId };
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

  private async remove(source: string): Promise<void> {
    const envId = this.envOfSource.get(source);
    if (envId === undefined) return;
    this.envOfSource.delete(source);
    await this.sink.removeEnvOf(envId, source);
  }
}
