import path from "node:path";
import { SOURCE_MAPPING_URL_SECTION } from "../runtime/source-map.js";
import {
  ByteReader,
  ByteWriter,
  readSections,
  SectionId,
  writeSections,
} from "../runtime/wasm-binary.js";

/**
 * The outputs of `cartridge build --debug`: the module, pointing at `X.wasm.map` beside it, and
 * the source map with its file names relative to the cartridge folder (`assembly/game.ts`), as the
 * author sees them, rather than to wherever the compiler happened to run.
 */
export function debugOutputs(
  wasm: Uint8Array,
  sourceMap: string,
  outFile: string,
  cartridgeDir: string,
): { wasm: Uint8Array; sourceMap: string } {
  return {
    wasm: withSourceMappingUrl(wasm, `./${path.basename(outFile)}.map`),
    sourceMap: relativeSources(sourceMap, cartridgeDir),
  };
}

/** `wasm` with its `sourceMappingURL` custom section set to `url` (added when missing). */
function withSourceMappingUrl(wasm: Uint8Array, url: string): Uint8Array {
  const payload = new ByteWriter().name(SOURCE_MAPPING_URL_SECTION).name(url).finish();
  const sections = readSections(wasm).filter((section) => {
    if (section.id !== SectionId.custom) return true;
    try {
      return new ByteReader(section.payload).name() !== SOURCE_MAPPING_URL_SECTION;
    } catch {
      return true;
    }
  });
  return writeSections([...sections, { id: SectionId.custom, payload }]);
}

/**
 * The map with every source path outside the compiler's library (resolved against the working
 * folder, where the compiler ran) made relative to `dir`.
 */
function relativeSources(sourceMap: string, dir: string): string {
  const map = JSON.parse(sourceMap) as { sources?: unknown; sourceRoot?: unknown };
  if (!Array.isArray(map.sources)) return sourceMap;
  // The compiler roots the paths at its output name ("./cartridge"), which names nothing on disk.
  delete map.sourceRoot;
  map.sources = map.sources.map((source: unknown) => {
    if (typeof source !== "string" || source.startsWith("~lib/")) return source;
    return path.relative(dir, path.resolve(source)).split(path.sep).join("/");
  });
  return JSON.stringify(map);
}
