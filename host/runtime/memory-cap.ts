import { LoadError } from "./errors.js";
import { ByteWriter } from "./wasm-binary.js";
import type { WasmModuleInfo } from "./wasm-module-info.js";

/**
 * Checks the module's memories against the host's page cap and returns a replacement memory
 * section payload when a memory declares no maximum (it is given the cap), or undefined when the
 * section can stay as it is. Throws `MemoryLimit` for a memory that is too large, shared or 64-bit.
 */
export function capMemories(
  info: WasmModuleInfo,
  maxMemoryPages: number,
  source?: string,
): Uint8Array | undefined {
  let changed = false;
  const writer = new ByteWriter().u32(info.memories.length);
  for (const [index, memory] of info.memories.entries()) {
    const name = info.exports.find((e) => e.kind === "memory" && e.index === index)?.name;
    const label = name === undefined ? `memory ${index}` : `memory "${name}"`;
    if (memory.shared) {
      throw new LoadError("MemoryLimit", `${label} is shared; threads are not allowed`, source);
    }
    if (memory.memory64) {
      throw new LoadError("MemoryLimit", `${label} is 64-bit; only wasm32 is supported`, source);
    }
    if (memory.initialPages > maxMemoryPages) {
      throw new LoadError(
        "MemoryLimit",
        `${label} starts with ${memory.initialPages} pages; the host allows at most ${maxMemoryPages}`,
        source,
      );
    }
    if (memory.maxPages !== undefined && memory.maxPages > maxMemoryPages) {
      throw new LoadError(
        "MemoryLimit",
        `${label} declares a maximum of ${memory.maxPages} pages; the host allows at most ${maxMemoryPages}`,
        source,
      );
    }
    const maxPages = memory.maxPages ?? maxMemoryPages;
    if (memory.maxPages === undefined) changed = true;
    writer.byte(0x01).u32(memory.initialPages).u32(maxPages);
  }
  return changed ? writer.finish() : undefined;
}
