import { existsSync } from "node:fs";
import { cp, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCartridge } from "../../../host/cli/build.js";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import { loadDirectory } from "../../../host/runtime/directory.js";
import { CallError } from "../../../host/runtime/errors.js";
import { Registry } from "../../../host/runtime/registry.js";
import { SourceMap } from "../../../host/runtime/source-map.js";

/**
 * `cartridge build --debug` writes a source map beside the module, the host picks it up from the
 * folder it loads, and a trap names the AssemblyScript file and line it happened at.
 */

const FIXTURE = fileURLToPath(new URL("../../fixtures/as-trap", import.meta.url));
let workDir: string;
let outFile: string;
let trapLine: number;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), "cartridge-trap-source-"));
  const dir = path.join(workDir, "as-trap");
  await cp(FIXTURE, dir, { recursive: true });
  const text = await readFile(path.join(dir, "assembly", "game.ts"), "utf8");
  trapLine = text.split("\n").findIndex((line) => line.includes("// TRAP LINE")) + 1;
  outFile = path.join(workDir, "served", "as-trap-v1.wasm");
  await buildCartridge(dir, outFile, { debug: true, force: true, log: () => {} });
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

/** The poisoned state at 2, one step from the trap, and the one action. */
const POISONED = Uint8Array.of(2, 1);
const ACTION = Uint8Array.of(0, 0, 0, 0);

function trapOf(call: () => unknown): CallError {
  try {
    call();
  } catch (error) {
    if (error instanceof CallError) return error;
    throw error;
  }
  throw new Error("no trap");
}

describe("trap reports with source lines", () => {
  it("writes X.wasm.map, with sources relative to the cartridge folder", async () => {
    expect(existsSync(`${outFile}.map`)).toBe(true);
    const map = JSON.parse(await readFile(`${outFile}.map`, "utf8")) as { sources: string[] };
    expect(map.sources).toContain("assembly/game.ts");
    expect(() => SourceMap.parse(JSON.stringify(map))).not.toThrow();
  });

  it("names the AssemblyScript file and line of the trap", async () => {
    const registry = new Registry();
    const loaded = await loadDirectory(registry, path.dirname(outFile));
    expect(loaded.rejected).toEqual([]);
    const engine = new CartridgeEngine(registry);
    const error = trapOf(() => engine.step({ envId: "as-trap-v1" }, POISONED, ACTION));
    const top = error.trap?.frames[0];
    expect(top?.source).toEqual({
      file: "assembly/game.ts",
      line: trapLine,
      column: expect.any(Number),
    });
    expect(error.message).toContain(`at assembly/game.ts:${trapLine}:`);
    expect(error.message).toMatch(
      /checkPoison at assembly\/game\.ts:\d+:\d+ \(wasm-function\[\d+\]:0x[0-9a-f]+\)/,
    );
    // The caller's frame is located too: the line of the call in step.
    expect(error.trap?.frames[1]?.source?.file).toBe("assembly/game.ts");
  });

  it("ignores a map beside a module that does not declare one", async () => {
    const registry = new Registry();
    const bytes = new Uint8Array(await readFile(outFile));
    // The same map handed to a module without a sourceMappingURL section is not used.
    const { readSections, writeSections } = await import("../../../host/runtime/wasm-binary.js");
    const stripped = writeSections(readSections(bytes).filter((s) => s.id !== 0));
    await registry.register(stripped, "stripped.wasm", await readFile(`${outFile}.map`, "utf8"));
    const error = trapOf(() =>
      new CartridgeEngine(registry).step({ envId: "as-trap-v1" }, POISONED, ACTION),
    );
    expect(error.trap?.frames[0]?.source).toBeUndefined();
    expect(error.trap?.frames[0]?.originalOffset).toBeDefined();
  });
});
