import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { EnvCapabilities } from "./engine.js";
import { LoadError } from "./errors.js";
import type { Registry } from "./registry.js";
import { resolveLimits } from "./sandbox-options.js";

/** What happened to each `*.wasm` file of a directory. */
export interface DirectoryLoadResult {
  readonly registered: EnvCapabilities[];
  readonly rejected: { readonly source: string; readonly error: LoadError }[];
}

function unreadable(error: unknown, source: string): LoadError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === undefined) throw error;
  return new LoadError("Unreadable", `cannot read the file (${code})`, source, { cause: error });
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
      // Check the size before reading, so that a huge file is never pulled into memory.
      const { size } = await stat(source);
      if (size > maxModuleBytes) {
        throw new LoadError(
          "TooLarge",
          `module is ${size} bytes; the limit is ${maxModuleBytes}`,
          source,
        );
      }
      result.registered.push(await registry.register(await readFile(source), source));
    } catch (error) {
      // A file removed or made unreadable between listing and reading is that file's problem
      // only: report it like a module that failed to load and go on with the others.
      const loadError = error instanceof LoadError ? error : unreadable(error, source);
      result.rejected.push({ source, error: loadError });
      onError?.(source, loadError);
    }
  }
  return result;
}
