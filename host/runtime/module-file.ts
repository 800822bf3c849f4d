import { readFile, stat } from "node:fs/promises";
import { LoadError } from "./errors.js";
import { MAX_SOURCE_MAP_BYTES } from "./source-map.js";

/**
 * Reads a cartridge module from disk for registration. The size is checked before reading, so a
 * huge file dropped into a cartridge folder is never pulled into memory; a file that cannot be
 * read (removed mid-load, no permission) is a typed `Unreadable` error for that file alone.
 * Shared by the one-shot directory load and the hot-reload watcher.
 */
export async function readModuleFile(source: string, maxBytes: number): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    const { size } = await stat(source);
    if (size > maxBytes) {
      throw new LoadError("TooLarge", `module is ${size} bytes; the limit is ${maxBytes}`, source);
    }
    bytes = await readFile(source);
  } catch (error) {
    if (error instanceof LoadError) throw error;
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (code === undefined) throw error;
    throw new LoadError("Unreadable", `cannot read the file (${code})`, source, { cause: error });
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The text of `SOURCE.map` beside a module file (what `cartridge build --debug` writes), or
 * undefined when there is none, it is larger than `MAX_SOURCE_MAP_BYTES` or it cannot be read:
 * a map only adds source lines to trap reports, so a missing or bad one never fails a load.
 */
export async function readSourceMapBeside(source: string): Promise<string | undefined> {
  const file = `${source}.map`;
  try {
    const { size } = await stat(file);
    if (size > MAX_SOURCE_MAP_BYTES) return undefined;
    return await readFile(file, "utf8");
  } catch {
    return undefined;
  }
}
