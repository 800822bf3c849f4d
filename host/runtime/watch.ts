import { resolve } from "node:path";
import { type FSWatcher, watch } from "chokidar";
import type { EnvCapabilities } from "./engine.js";
import { readModuleFile, readSourceMapBeside } from "./module-file.js";
import { DEFAULT_LIMITS } from "./sandbox-options.js";

/** The part of the Registry the watcher drives. */
export interface WatchableRegistry {
  /** Validates and registers a module; rejects (LoadError) and keeps the old build on failure. */
  register(bytes: Uint8Array, source: string, sourceMap?: string): Promise<EnvCapabilities>;
  /** Removes the env registered from `source`, if any. */
  unregisterSource(source: string): unknown;
  /**
   * Files refused because another file provided their env id (`EnvConflict`), whose env is now
   * free, in the order they should be offered again (see `Registry.claimableSources`).
   */
  claimableSources?(): readonly string[];
}

/** Options of `watchCartridges`. */
export interface WatchOptions {
  /**
   * How long a file must stay unchanged before it is loaded, in ms. Writers rarely produce a
   * module in one write; loading half a file would only be rejected. Default 50.
   */
  readonly stabilityMs?: number;
  /** Files larger than this are rejected without being read (default: the module size limit). */
  readonly maxFileBytes?: number;
  /** Also register the files already in the folder (default false: the caller loaded them). */
  readonly includeExisting?: boolean;
  /** A file was registered (added or replaced). */
  readonly onRegistered?: (caps: EnvCapabilities, source: string) => void;
  /** A file was removed and its env unregistered. */
  readonly onUnregistered?: (source: string) => void;
  /** A file could not be read or was rejected; the env keeps its previous build. */
  readonly onError?: (source: string, error: unknown) => void;
}

/** A running watcher. */
export interface CartridgeWatcher {
  /** Resolves when every change seen so far has been applied to the registry. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

/** Only `.wasm` files are cartridges; editors' temp files and the like are ignored. */
function isCartridgeFile(path: string): boolean {
  return path.endsWith(".wasm");
}

/**
 * Watches `dir` for cartridges: an added or changed `.wasm` file is registered (validated first,
 * so a broken file never replaces a working build), a removed one is unregistered. Changes to one
 * file are applied in order; calls already running keep the build they started on, because the
 * registry pins builds by build id.
 */
export async function watchCartridges(
  registry: WatchableRegistry,
  dir: string,
  options: WatchOptions = {},
): Promise<CartridgeWatcher> {
  const stabilityMs = options.stabilityMs ?? 50;
  const maxFileBytes = options.maxFileBytes ?? DEFAULT_LIMITS.maxModuleBytes;
  // One promise chain per file, so that a quick add-change-unlink sequence applies in order.
  const queues = new Map<string, Promise<void>>();

  const enqueue = (path: string, work: () => Promise<void>) => {
    const source = resolve(path);
    const previous = queues.get(source) ?? Promise.resolve();
    const next = previous.then(work).finally(() => {
      if (queues.get(source) === next) queues.delete(source);
    });
    queues.set(source, next);
  };

  const offer = async (source: string) => {
    try {
      const bytes = await readModuleFile(source, maxFileBytes);
      const caps = await registry.register(bytes, source, await readSourceMapBeside(source));
      options.onRegistered?.(caps, source);
    } catch (error) {
      options.onError?.(source, error);
    }
  };

  // A file refused because another provided its env id takes the env when that file goes (a
  // rename seen as "add new" before "unlink old", or the original of a copy deleted). One at a
  // time, in path order, so the same folder always ends with the same file providing the env.
  const offerClaimable = async () => {
    const tried = new Set<string>();
    for (;;) {
      const next = registry.claimableSources?.().find((source) => !tried.has(source));
      if (next === undefined) return;
      tried.add(next);
      await offer(next);
    }
  };

  const load = (path: string) =>
    enqueue(path, async () => {
      await offer(resolve(path));
      await offerClaimable();
    });

  const unload = (path: string) =>
    enqueue(path, async () => {
      const source = resolve(path);
      registry.unregisterSource(source);
      options.onUnregistered?.(source);
      await offerClaimable();
    });

  const watcher: FSWatcher = watch(dir, {
    ignoreInitial: !(options.includeExisting ?? false),
    depth: 0,
    ignored: (path, stats) => stats?.isFile() === true && !isCartridgeFile(path),
    awaitWriteFinish: {
      stabilityThreshold: stabilityMs,
      pollInterval: Math.max(5, stabilityMs / 5),
    },
  });
  watcher.on("add", (path) => isCartridgeFile(path) && load(path));
  watcher.on("change", (path) => isCartridgeFile(path) && load(path));
  watcher.on("unlink", (path) => isCartridgeFile(path) && unload(path));
  watcher.on("error", (error) => options.onError?.(resolve(dir), error));
  await new Promise<void>((ready) => watcher.once("ready", () => ready()));

  const settled = async () => {
    while (queues.size > 0) await Promise.all(queues.values());
  };
  return {
    settled,
    close: async () => {
      await watcher.close();
      await settled();
    },
  };
}
