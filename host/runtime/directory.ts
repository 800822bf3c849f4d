import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { EnvCapabilities } from "./engine.js";
import { LoadError } from "./errors.js";
import { readModuleFile, readSourceMapBeside } from "./module-file.js";
import type { Registry } from "./registry.js";
import { resolveLimits } from "./sandbox-options.js";

/** What happened to each `*.wasm` file of a directory. */
export interface DirectoryLoadResult {
  readonly registered: EnvCapabilities[];
  readonly rejected: { readonly source: string; readonly error: LoadError }[];
}

/**
 * Registers every `*.wasm` file in `dir` (not recursively, in name order). A file that fails to
 * load is reported through `onError` and the result, never thrown, so that one broken cartridge
 * does not keep the others from being served. Errors reading the directory itself are thrown.
 */
export async function loadDirectory(
  registry: Registry,
  dir: string,
  onError?: (source: string, error: LoadError) => void,
): Promise<DirectoryLoadResult> {
  const names = (await readdir(dir, { withFileTypes: true }))
    .filter((entry) => entry.isFile() && entry.name.endsWith(".wasm"))
    .map((entry) => entry.name)
    .sort();
  const { maxModuleBytes } = resolveLimits(registry.options);
  const result: DirectoryLoadResult = { registered: [], rejected: [] };
  for (const name of names) {
    const source = join(dir, name);
    try {
      const bytes = await readModuleFile(source, maxModuleBytes);
      const sourceMap = await readSourceMapBeside(source);
      result.registered.push(await registry.register(bytes, source, sourceMap));
    } catch (error) {
      if (!(error instanceof LoadError)) throw error;
      result.rejected.push({ source, error });
      onError?.(source, error);
    }
  }
  return result;
}
