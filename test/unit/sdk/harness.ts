import path from "node:path";
import { fileURLToPath } from "node:url";
import asc from "assemblyscript/asc";

/**
 * Compiles an AssemblyScript test harness (under test/unit/sdk/assembly) with the SDK's runtime
 * settings and instantiates it. Only for unit tests of SDK pieces that have no ABI export of their
 * own; cartridges are always exercised through the host's engine.
 */
export async function compileHarness(file: string): Promise<WebAssembly.Exports> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  let wasm: Uint8Array | undefined;
  const messages: string[] = [];
  const stream = asc.createMemoryStream((chunk) => {
    messages.push(typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk));
  });
  const result = await asc.main(
    [path.join(here, "assembly", file), "--runtime", "stub", "-O2", "--outFile", "harness.wasm"],
    {
      stdout: stream,
      stderr: stream,
      writeFile: (name, contents) => {
        if (name === "harness.wasm" && contents instanceof Uint8Array) wasm = contents;
      },
    },
  );
  if (result.error !== null || wasm === undefined) {
    throw new Error(`harness ${file} failed to compile:\n${messages.join("")}`);
  }
  const module = await WebAssembly.compile(new Uint8Array(wasm));
  const instance = await WebAssembly.instantiate(module, {
    env: {
      abort: () => {
        throw new Error(`harness ${file} aborted`);
      },
    },
  });
  return instance.exports;
}
