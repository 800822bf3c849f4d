import asc from "assemblyscript/asc";
import { describe, expect, it } from "vitest";
import { generateEntry } from "../../../host/cli/templates/entry.js";
import { parseManifest } from "../../../host/runtime/manifest.js";

const F32_MAX = 3.4028234663852886e38;
const LOW = [-F32_MAX, -1e21, -2, 0.5, -1e-7];
const HIGH = [F32_MAX, 1e21, 2, 0.75, 1e-7];

function boxEntry(): string {
  const manifest = parseManifest(
    new TextEncoder().encode(
      JSON.stringify({
        abi_version: 1,
        env_id: "wide-v1",
        version: "1.0.0",
        encoding: { state: "s:v1", action: "box_f32:v1", obs: "o:v1", schema_version: 1 },
        action_space: { box: { low: LOW, high: HIGH, shape: [LOW.length] } },
        observation: { dtype: "u8", shape: [1] },
        players: 1,
        max_horizon: 1,
        preferred_batch: 1,
        state_bytes: 1,
        action_bytes: 4 * LOW.length,
        obs_bytes: 1,
        hint_max_bytes: 0,
      }),
    ),
  );
  return generateEntry({
    manifest,
    sdkImport: "./sdk",
    gameImport: "./game",
    gameClass: "Game",
    stateClass: "State",
    actionClass: "Action",
    exchangeBytes: 65536,
  });
}

/** Compiles just the LOW and HIGH constants of a generated entry and reads them back. */
async function compileBounds(entry: string): Promise<{ low: number[]; high: number[] }> {
  const lines = entry
    .split("\n")
    .filter((line) => /^const (LOW|HIGH): StaticArray<f32>/.test(line));
  expect(lines).toHaveLength(2);
  const source = `${lines.join("\n")}
export function low(i: i32): f32 { return LOW[i]; }
export function high(i: i32): f32 { return HIGH[i]; }
`;
  let wasm: Uint8Array | undefined;
  const messages: string[] = [];
  const stream = asc.createMemoryStream((chunk) => {
    messages.push(typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk));
  });
  const result = await asc.main(["bounds.ts", "--runtime", "stub", "--outFile", "bounds.wasm"], {
    stdout: stream,
    stderr: stream,
    readFile: (name) => (name === "bounds.ts" ? source : null),
    writeFile: (name, contents) => {
      if (name === "bounds.wasm" && contents instanceof Uint8Array) wasm = contents;
    },
    listFiles: () => [],
  });
  if (result.error !== null || wasm === undefined) {
    throw new Error(`the generated bounds do not compile:\n${source}\n${messages.join("")}`);
  }
  const { instance } = await WebAssembly.instantiate(new Uint8Array(wasm), {
    env: { abort: () => {} },
  });
  const read = instance.exports as unknown as { low(i: number): number; high(i: number): number };
  return {
    low: LOW.map((_, i) => read.low(i)),
    high: HIGH.map((_, i) => read.high(i)),
  };
}

describe("box bounds in the generated entry", () => {
  it("are AssemblyScript f32 literals with the manifest's values, however large", async () => {
    const bounds = await compileBounds(boxEntry());
    expect(bounds.low).toEqual(LOW.map(Math.fround));
    expect(bounds.high).toEqual(HIGH.map(Math.fround));
  });
});
