import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCartridge } from "../../../host/cli/build.js";
import { replayFile, requestOf } from "../../../host/cli/replay.js";
import { validateFile } from "../../../host/cli/validate.js";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import { loadDirectory } from "../../../host/runtime/directory.js";
import { CallError } from "../../../host/runtime/errors.js";
import { Registry } from "../../../host/runtime/registry.js";
import { SourceMap } from "../../../host/runtime/source-map.js";
import { actionIs, counterVariant, withStepBody } from "../../fixtures/counter-variants.js";

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
    // The original offset is the author's unreachable (0x00) in the file that was served.
    const bytes = await readFile(outFile);
    expect(bytes[top?.originalOffset as number]).toBe(0x00);
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

/** Splits a printed `cartridge replay FILE CALL --flag value ...` line into its call and flags. */
function parseReplayLine(line: string): {
  file: string;
  op: string;
  flags: Record<string, string>;
} {
  const words = line.trim().split(/\s+/);
  const at = words.indexOf("replay", words.indexOf("cartridge"));
  const [file, op, ...rest] = words.slice(at + 1);
  const flags: Record<string, string> = {};
  for (let i = 0; i + 1 < rest.length; i += 2) {
    const name = (rest[i] as string)
      .replace(/^--/, "")
      .replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
    flags[name] = rest[i + 1] as string;
  }
  return { file: file as string, op: op as string, flags };
}

describe("cartridge replay", () => {
  it("reruns a step and prints the trap report with its source line", async () => {
    const request = requestOf("step", { state: "0201", action: "00000000" });
    const { ok, text } = await replayFile(outFile, request);
    expect(ok).toBe(false);
    expect(text).toContain("cartridge_step trapped: unreachable");
    expect(text).toMatch(new RegExp(`in checkPoison at assembly/game\\.ts:${trapLine}:\\d+`));
  });

  it("reruns a reset followed by steps, and a rollout, that do not trap", async () => {
    const episode = await replayFile(
      outFile,
      requestOf("step", { seed: "5", actions: "00000000,00000000" }),
    );
    expect(episode).toMatchObject({ ok: true });
    expect(episode.text).toContain("reset and 2 steps returned");
    const rollout = await replayFile(outFile, requestOf("rollout", { seed: "5", stepCap: "8" }));
    expect(rollout.text).toMatch(/rollout returned: \d+ steps/);
  });

  it("refuses a command line that describes no call", () => {
    expect(() => requestOf("step", { state: "02" })).toThrow(/--action/);
    expect(() => requestOf("jump", {})).toThrow(/unknown call/);
    expect(() => requestOf("rollout", { seed: "1", stepCap: "0" })).toThrow(/--step-cap/);
  });

  it("validate prints a replay command for a check that trapped, and the command reproduces it", async () => {
    const file = path.join(workDir, "counter-trap.wasm");
    await writeFile(
      file,
      await counterVariant(withStepBody(`(if ${actionIs(1)} (then unreachable))`)),
    );
    const report = await validateFile(file);
    expect(report.ok).toBe(false);
    const line = report.text.split("\n").find((l) => l.includes("replay host-play:"));
    expect(line).toMatch(/cartridge replay \S+ step --state [0-9a-f]+ --action 01000000$/);
    const { file: target, op, flags } = parseReplayLine(line as string);
    expect(target).toBe(file);
    const replayed = await replayFile(target, requestOf(op, flags));
    expect(replayed.ok).toBe(false);
    expect(replayed.text).toContain("cartridge_step trapped: unreachable");
    // The rollout check's trap names its step and replays as a rollout.
    expect(report.text).toMatch(
      /replay rollout: cartridge replay \S+ rollout --seed \d+ --step-cap \d+/,
    );
  });

  it("runs as a subcommand of the cartridge CLI", async () => {
    const root = fileURLToPath(new URL("../../../", import.meta.url));
    const args = [
      "--import",
      "tsx",
      path.join(root, "host/cli/main.ts"),
      "replay",
      outFile,
      "step",
    ];
    const result = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [...args, "--state", "0201", "--action", "00000000"],
        { cwd: root },
        (_error, stdout) => resolve({ code: child.exitCode, stdout }),
      );
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`assembly/game.ts:${trapLine}:`);
  });
});
