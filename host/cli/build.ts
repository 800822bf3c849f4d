import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { Command } from "commander";
import { formatReport, validateCartridge } from "../runtime/validate.js";
import {
  BUILD_DIR,
  cartridgeInputsHash,
  compileCartridge,
  writeFileAtomically,
} from "./cartridge-compiler.js";
import { BuildError, CARTRIDGE_TOML, readCartridgeSource } from "./cartridge-source.js";
import { debugOutputs } from "./debug-build.js";

/** Steps of the validation rollout run on every fresh build. */
const VALIDATION_ROLLOUT_STEPS = 64;
/** Most cartridge folders `build-all` accepts, so a wrong DIR fails fast instead of crawling. */
const MAX_CARTRIDGES = 256;
/**
 * Imports AssemblyScript adds for standard-library features a cartridge cannot have, and what to
 * use instead; the validator names the import, this says why it appeared.
 */
const IMPORT_HINTS: Record<string, string> = {
  "env.seed": "Math.random needs the host's randomness: use the SDK's Rng instead",
  "env.trace": "trace() needs the host's console: remove it",
  "Date.now": "Date.now needs a clock: cartridges have none",
};
/** Name of the record of the last build's inputs, inside the cartridge's build folder. */
const INPUTS_RECORD = "last-build.json";

/** Options shared by `build` and `build-all`. */
export interface BuildOptions {
  /** Use asconfig.json's debug target. */
  readonly debug: boolean;
  /** Rebuild even when the inputs are unchanged. */
  readonly force: boolean;
  /** Also write the text format here (one cartridge only). */
  readonly textFile?: string | undefined;
  /** Receives progress lines and validation reports. */
  readonly log: (line: string) => void;
}

/** What happened to one cartridge. */
export interface BuildOutcome {
  readonly envId: string;
  readonly outFile: string;
  /** True when the inputs were unchanged and the previous output was kept. */
  readonly skipped: boolean;
  readonly bytes: number;
}

interface InputsRecord {
  readonly inputsHash: string;
  readonly outFile: string;
  readonly outSha256: string;
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** True when the record says `outFile` was built from exactly these inputs and is untouched. */
async function isUpToDate(recordPath: string, inputsHash: string, outFile: string) {
  if (!existsSync(recordPath) || !existsSync(outFile)) return false;
  try {
    const record = JSON.parse(await readFile(recordPath, "utf8")) as Partial<InputsRecord>;
    if (record.inputsHash !== inputsHash || record.outFile !== outFile) return false;
    return record.outSha256 === sha256(await readFile(outFile));
  } catch {
    return false;
  }
}

/**
 * Builds the cartridge in `dir`: reads and checks cartridge.toml, generates the entry, compiles it,
 * validates the module with the host's own checks and writes it to `outFile` (default
 * `DIR/build/<env_id>.wasm`). Skips the work when nothing that reaches the compiler changed.
 * Throws `BuildError` naming the stage that failed; a module that fails validation is not written.
 */
export async function buildCartridge(
  dir: string,
  outFile: string | undefined,
  options: BuildOptions,
): Promise<BuildOutcome> {
  const source = await readCartridgeSource(dir);
  const envId = source.manifest.env_id;
  const target = path.resolve(outFile ?? path.join(source.dir, BUILD_DIR, `${envId}.wasm`));
  const recordPath = path.join(source.dir, BUILD_DIR, INPUTS_RECORD);
  if (!options.force && options.textFile === undefined) {
    const inputsHash = await cartridgeInputsHash(source, options);
    if (await isUpToDate(recordPath, inputsHash, target)) {
      const bytes = (await readFile(target)).byteLength;
      options.log(`${envId}: up to date (${path.relative(process.cwd(), target)})`);
      return { envId, outFile: target, skipped: true, bytes };
    }
  }
  const compiled = await compileCartridge(source, options);
  const outputs =
    compiled.sourceMap === undefined
      ? { wasm: compiled.wasm, sourceMap: undefined }
      : debugOutputs(compiled.wasm, compiled.sourceMap, target, source.dir);
  const report = await validateCartridge(outputs.wasm, {
    source: target,
    rolloutSteps: VALIDATION_ROLLOUT_STEPS,
    ...(outputs.sourceMap === undefined ? {} : { sourceMap: outputs.sourceMap }),
  });
  options.log(formatReport(report));
  if (!report.ok) {
    const details = report.checks.map((check) => check.detail).join("\n");
    const hints = Object.entries(IMPORT_HINTS)
      .filter(([name]) => details.includes(name))
      .map(([, hint]) => ` (${hint})`)
      .join("");
    throw new BuildError("Validation", `${envId}: the compiled module failed validation${hints}`);
  }
  // The map first: a watcher that picks the module up finds its map already there.
  if (outputs.sourceMap !== undefined) {
    await writeFileAtomically(`${target}.map`, outputs.sourceMap);
  }
  await writeFileAtomically(target, outputs.wasm);
  const record: InputsRecord = {
    inputsHash: compiled.inputsHash,
    outFile: target,
    outSha256: sha256(outputs.wasm),
  };
  await writeFileAtomically(recordPath, `${JSON.stringify(record, null, 2)}\n`);
  options.log(
    `${envId}: built ${path.relative(process.cwd(), target)} (${outputs.wasm.byteLength} bytes${outputs.sourceMap === undefined ? "" : ", source map beside it"})`,
  );
  return { envId, outFile: target, skipped: false, bytes: outputs.wasm.byteLength };
}

/** The folders directly under `dir` that contain a cartridge.toml, sorted by name. */
export async function findCartridgeDirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const found = entries
    .filter(
      (entry) => entry.isDirectory() && existsSync(path.join(dir, entry.name, CARTRIDGE_TOML)),
    )
    .map((entry) => path.join(dir, entry.name))
    .sort();
  if (found.length > MAX_CARTRIDGES) {
    throw new BuildError("BadConfig", `${dir}: more than ${MAX_CARTRIDGES} cartridge folders`);
  }
  return found;
}

/** A cartridge folder that failed to build, and why. */
export interface BuildFailure {
  readonly dir: string;
  readonly error: Error;
}

/**
 * Builds every cartridge folder under `dir` into `outDir/<env_id>.wasm`. One failure does not stop
 * the others; two folders declaring the same env_id is a failure of the second one.
 */
export async function buildAll(
  dir: string,
  outDir: string,
  options: BuildOptions,
): Promise<{ built: BuildOutcome[]; failures: BuildFailure[] }> {
  const built: BuildOutcome[] = [];
  const failures: BuildFailure[] = [];
  const owners = new Map<string, string>();
  for (const cartridgeDir of await findCartridgeDirs(dir)) {
    try {
      const { manifest } = await readCartridgeSource(cartridgeDir);
      const owner = owners.get(manifest.env_id);
      if (owner !== undefined) {
        throw new BuildError("BadConfig", `env_id ${manifest.env_id} is also declared by ${owner}`);
      }
      owners.set(manifest.env_id, cartridgeDir);
      const outFile = path.join(outDir, `${manifest.env_id}.wasm`);
      built.push(await buildCartridge(cartridgeDir, outFile, options));
    } catch (error) {
      failures.push({
        dir: cartridgeDir,
        error: error instanceof Error ? error : new Error(String(error)),
      });
    }
  }
  return { built, failures };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `cartridge build DIR [--out FILE] [--debug] [--force]`. */
export function buildCommand(): Command {
  return new Command("build")
    .description("Compile the cartridge in DIR (cartridge.toml + AssemblyScript) and validate it.")
    .argument("<dir>", "folder holding cartridge.toml")
    .option("--out <file>", "output .wasm file (default DIR/build/<env_id>.wasm)")
    .option(
      "--debug",
      "use the debug target of asconfig.json and write a source map (OUT.map) for trap reports",
      false,
    )
    .option("--force", "rebuild even when the inputs are unchanged", false)
    .option("--text-file <file>", "also write the WebAssembly text format")
    .action(
      async (
        dir: string,
        flags: { out?: string; debug: boolean; force: boolean; textFile?: string },
      ) => {
        try {
          await buildCartridge(dir, flags.out, {
            debug: flags.debug,
            force: flags.force,
            textFile: flags.textFile,
            log: (line) => console.log(line),
          });
        } catch (error) {
          console.error(`cartridge build: ${describe(error)}`);
          process.exitCode = 1;
        }
      },
    );
}

/** `cartridge build-all DIR --out OUTDIR [--debug] [--force]`. */
export function buildAllCommand(): Command {
  return new Command("build-all")
    .description("Build every cartridge folder under DIR into OUTDIR/<env_id>.wasm.")
    .argument("<dir>", "folder whose subfolders hold cartridge.toml files")
    .requiredOption("--out <dir>", "output folder")
    .option("--debug", "use the debug target of asconfig.json", false)
    .option("--force", "rebuild even when the inputs are unchanged", false)
    .action(async (dir: string, flags: { out: string; debug: boolean; force: boolean }) => {
      try {
        const { built, failures } = await buildAll(dir, flags.out, {
          debug: flags.debug,
          force: flags.force,
          log: (line) => console.log(line),
        });
        for (const failure of failures) {
          console.error(`cartridge build-all: ${failure.dir}: ${describe(failure.error)}`);
        }
        const skipped = built.filter((outcome) => outcome.skipped).length;
        console.log(
          `${built.length} cartridge(s) ready (${skipped} unchanged), ${failures.length} failed`,
        );
        if (failures.length > 0) process.exitCode = 1;
      } catch (error) {
        console.error(`cartridge build-all: ${describe(error)}`);
        process.exitCode = 1;
      }
    });
}
