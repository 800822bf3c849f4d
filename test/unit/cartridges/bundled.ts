import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildCartridge } from "../../../host/cli/build.js";
import { type CartridgeEngine, createEngine } from "../../../host/runtime/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/**
 * An engine with the bundled cartridge in `cartridges/<folder>` registered. The module comes from
 * `build/cartridges/<envId>.wasm`, which `npm test` builds first; the build command's input hash
 * makes this a no-op then, and rebuilds the module when the sources changed since.
 */
export async function engineWith(folder: string, envId: string): Promise<CartridgeEngine> {
  const outFile = path.join(root, "build", "cartridges", `${envId}.wasm`);
  await buildCartridge(path.join(root, "cartridges", folder), outFile, {
    debug: false,
    force: false,
    log: () => {},
  });
  const { registry, engine } = createEngine();
  await registry.register(await readFile(outFile), outFile);
  return engine;
}

/** Little-endian u32 action bytes. */
export function u32Action(value: number): Uint8Array {
  return new Uint8Array(Uint32Array.of(value).buffer);
}

/** Little-endian f32 action bytes. */
export function f32Action(value: number): Uint8Array {
  return new Uint8Array(Float32Array.of(value).buffer);
}

/** The f32 values of observation bytes. */
export function floats(bytes: Uint8Array): Float32Array {
  return new Float32Array(bytes.slice().buffer);
}
