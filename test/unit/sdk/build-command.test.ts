import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BuildOptions, buildAll, buildCartridge } from "../../../host/cli/build.js";
import { BuildError, readCartridgeSource } from "../../../host/cli/cartridge-source.js";
import { scaffoldCartridge } from "../../../host/cli/new.js";
import { validateFile } from "../../../host/cli/validate.js";
import { createEngine } from "../../../host/runtime/index.js";

let workDir: string;
const lines: string[] = [];
const quiet: BuildOptions = { debug: false, force: false, log: (line) => lines.push(line) };
const debugBuild: BuildOptions = { ...quiet, debug: true };

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), "cartridge-sdk-test-"));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

async function expectBuildError(promise: Promise<unknown>, code: string, text: RegExp) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BuildError);
  expect((error as BuildError).code).toBe(code);
  expect((error as BuildError).message).toMatch(text);
}

/** Rewrites one file of a scaffolded cartridge. */
async function edit(file: string, from: string | RegExp, to: string): Promise<void> {
  const text = await readFile(file, "utf8");
  const next = text.replace(from, to);
  expect(next).not.toBe(text);
  await writeFile(file, next);
}

describe("cartridge new + cartridge build", () => {
  it("scaffolds a game that builds, validates and plays out of the box", async () => {
    const dir = await scaffoldCartridge("nim", workDir);
    const outFile = path.join(workDir, "out", "nim-v1.wasm");
    lines.length = 0;
    const first = await buildCartridge(dir, outFile, quiet);
    expect(first).toMatchObject({ envId: "nim-v1", skipped: false });
    expect(lines.join("\n")).toMatch(/nim-v1 0\.1\.0 .*valid/);

    const report = await validateFile(outFile);
    expect(report.ok).toBe(true);

    const { registry, engine } = createEngine();
    await registry.register(await readFile(outFile), outFile);
    const start = engine.reset({ envId: "nim-v1" }, 10n);
    expect(start.state[0]).toBeGreaterThanOrEqual(10);
    expect(start.state[0]).toBeLessThanOrEqual(21);
    const next = engine.step({ envId: "nim-v1" }, start.state, Uint8Array.of(2, 0, 0, 0));
    expect(next.state[0]).toBe(start.state[0]! - 3);
    expect(next.currentPlayer).toBe(1);

    // Unchanged inputs: the build is skipped; a source change rebuilds.
    expect((await buildCartridge(dir, outFile, quiet)).skipped).toBe(true);
    await edit(
      path.join(dir, "assembly", "game.ts"),
      "const MIN_STONES: i32 = 10;",
      "const MIN_STONES: i32 = 11;",
    );
    expect((await buildCartridge(dir, outFile, debugBuild)).skipped).toBe(false);
  });

  it("refuses bad names and existing folders", async () => {
    await expectBuildError(
      scaffoldCartridge("Bad Name", workDir),
      "BadConfig",
      /invalid cartridge name/,
    );
    await expectBuildError(scaffoldCartridge("chess-v2", workDir), "BadConfig", /no -vN suffix/);
    await scaffoldCartridge("twice", workDir);
    await expectBuildError(scaffoldCartridge("twice", workDir), "Io", /already exists/);
  });

  it("names the field of a bad cartridge.toml before compiling", async () => {
    const dir = await scaffoldCartridge("badtoml", workDir);
    const toml = path.join(dir, "cartridge.toml");
    await edit(toml, "players = 2", "players = 0");
    await expectBuildError(readCartridgeSource(dir), "BadConfig", /\[manifest\].*players/);
    await edit(toml, "players = 0", "players = 2\nplayrs = 2");
    await expectBuildError(readCartridgeSource(dir), "BadConfig", /playrs/);
    await edit(toml, "playrs = 2", "");
    await edit(toml, 'class = "Badtoml"', 'class = "Badtoml"\nentyr = "x.ts"');
    await expectBuildError(readCartridgeSource(dir), "BadConfig", /entyr/);
    await edit(toml, 'entyr = "x.ts"', 'entry = "../escape.ts"');
    await expectBuildError(readCartridgeSource(dir), "BadConfig", /entry/);
  });

  it("reports compiler errors with the compiler's message", async () => {
    const dir = await scaffoldCartridge("typo", workDir);
    await edit(path.join(dir, "cartridge.toml"), 'class = "Typo"', 'class = "Tpyo"');
    await expectBuildError(buildCartridge(dir, undefined, debugBuild), "Compile", /Tpyo/);
  });

  it("does not write a module that fails validation", async () => {
    const dir = await scaffoldCartridge("liar", workDir);
    // The mask now claims every action is legal, so the rollout policy hits a refused move.
    await edit(path.join(dir, "assembly", "game.ts"), "<u8>(i + 1 <= state.stones)", "<u8>1");
    const outFile = path.join(workDir, "out", "liar-v1.wasm");
    await expectBuildError(buildCartridge(dir, outFile, debugBuild), "Validation", /liar-v1/);
    expect(lines.join("\n")).toMatch(/✗/);
    await expect(readFile(outFile)).rejects.toThrow();
  });

  it("turns a NaN reward into INTERNAL, so the validator rejects the module", async () => {
    const dir = await scaffoldCartridge("nan", workDir);
    await edit(
      path.join(dir, "assembly", "game.ts"),
      "outcome.win2(mover, mover);",
      "outcome.win2(mover, mover);\n      outcome.reward = NaN;",
    );
    lines.length = 0;
    await expectBuildError(buildCartridge(dir, undefined, debugBuild), "Validation", /nan-v1/);
    expect(lines.join("\n")).toMatch(/CartridgeInternal.*status 7/);
  });

  it("explains the import that Math.random brings in", async () => {
    const dir = await scaffoldCartridge("dice", workDir);
    await edit(
      path.join(dir, "assembly", "game.ts"),
      "rng.nextRange(MIN_STONES, MAX_STONES + 1)",
      "MIN_STONES + <i32>(Math.random() * 5)",
    );
    await expectBuildError(
      buildCartridge(dir, undefined, debugBuild),
      "Validation",
      /use the SDK's Rng/,
    );
    expect(lines.join("\n")).toMatch(/env\.seed/);
  });

  it("build-all builds every folder and fails a duplicated env id", async () => {
    const root = path.join(workDir, "all");
    await scaffoldCartridge("alpha", root);
    await cp(path.join(root, "alpha"), path.join(root, "beta"), { recursive: true });
    const outDir = path.join(workDir, "all-out");
    const { built, failures } = await buildAll(root, outDir, debugBuild);
    expect(built.map((b) => b.envId)).toEqual(["alpha-v1"]);
    expect(failures).toHaveLength(1);
    expect(failures[0]!.error.message).toMatch(/env_id alpha-v1 is also declared/);
  });
});
