import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import asc from "assemblyscript/asc";
import type { CartridgeSource } from "./cartridge-source.js";
import { BuildError, findSdkRoot } from "./cartridge-source.js";
import { generateEntry } from "./templates/entry.js";

/** Folder inside a cartridge that holds generated files (gitignored). */
export const BUILD_DIR = "build";
/** Largest AssemblyScript source file hashed or compiled, in bytes. */
const SOURCE_MAX_BYTES = 4 * 1024 * 1024;

/** Options of one compilation. */
export interface CompileOptions {
  /** Use asconfig.json's `debug` target instead of `release`. */
  readonly debug: boolean;
  /** Also write the text format next to the entry file (for reading the generated code). */
  readonly textFile?: string | undefined;
}

/** The outcome of a compilation: the module bytes and the compiler's messages. */
export interface CompileResult {
  readonly wasm: Uint8Array;
  /** The source map of a debug build (its `sourceMappingURL` names `cartridge.wasm.map`). */
  readonly sourceMap?: string;
  readonly diagnostics: string;
  /** Hash of everything the output depends on; equal hashes mean equal outputs. */
  readonly inputsHash: string;
}

/**
 * The module name games import the SDK by (`import { Rng } from "cartridge/sdk"`), as from the
 * installed npm package. The compiler resolves it to the SDK this host ships with, wherever the
 * game lives and whatever its node_modules holds, so a cartridge is always built against the ABI
 * of the host that validates it.
 */
export const SDK_MODULE = "cartridge/sdk";

/** What AssemblyScript's package lookup asks for when a file imports `cartridge/sdk/...`. */
const SDK_PACKAGE_PATH = /^(?:.*[\\/])?node_modules[\\/]cartridge[\\/]sdk[\\/](.*)$/;

/**
 * The file AssemblyScript's node_modules lookup `requested` stands for inside this host's SDK, or
 * undefined for any other file. AssemblyScript looks `cartridge/sdk` up as
 * `node_modules/cartridge/sdk.ts` and then `node_modules/cartridge/sdk/index.ts` in every folder
 * up from the compiled file; the second names `sdk/index.ts`, which re-exports `sdk/assembly`.
 */
export function sdkFileFor(requested: string, sdkRoot: string): string | undefined {
  const match = SDK_PACKAGE_PATH.exec(requested);
  if (match === null) return undefined;
  const inside = path.normalize(match[1] ?? "");
  if (inside.startsWith("..") || path.isAbsolute(inside)) return undefined;
  return path.join(sdkRoot, "sdk", inside);
}

/** An import specifier from `fromDir` to `file`, without the .ts extension, always "./"-rooted. */
function importSpecifier(fromDir: string, file: string): string {
  const relative = path.relative(fromDir, file).split(path.sep).join("/");
  const withoutExtension = relative.replace(/\.ts$/, "");
  return withoutExtension.startsWith(".") ? withoutExtension : `./${withoutExtension}`;
}

/** Every .ts file under `dir` (skipping build output and node_modules), sorted. */
async function listSources(dir: string): Promise<string[]> {
  const found: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  for (const entry of entries) {
    if (!entry.isFile() || !entry.name.endsWith(".ts")) continue;
    const full = path.join(entry.parentPath, entry.name);
    const relative = path.relative(dir, full).split(path.sep);
    if (relative.includes(BUILD_DIR) || relative.includes("node_modules")) continue;
    found.push(full);
  }
  return found.sort();
}

/**
 * Hashes the compiler version, the build settings, the generated entry and every AssemblyScript
 * source of the SDK and of the cartridge. Cheap enough to run on every `npm test`, and it changes
 * whenever anything that reaches the compiler changes.
 */
async function hashInputs(
  source: CartridgeSource,
  sdkRoot: string,
  entryText: string,
  settings: string,
): Promise<string> {
  const hash = createHash("sha256");
  hash.update(`asc ${asc.version}\0${settings}\0${entryText}\0`);
  const files = [
    ...(await listSources(path.join(sdkRoot, "sdk"))),
    ...(await listSources(source.dir)),
  ];
  for (const file of files) {
    const bytes = await readFile(file);
    if (bytes.byteLength > SOURCE_MAX_BYTES) {
      throw new BuildError("Compile", `${file}: larger than ${SOURCE_MAX_BYTES} bytes`);
    }
    hash.update(`${file}\0${bytes.byteLength}\0`);
    hash.update(bytes);
  }
  return hash.digest("hex");
}

/** The path and text of a cartridge's generated entry file (not written yet). */
function entryFor(source: CartridgeSource): [string, string] {
  const buildDir = path.join(source.dir, BUILD_DIR);
  const text = generateEntry({
    manifest: source.manifest,
    sdkImport: SDK_MODULE,
    gameImport: importSpecifier(buildDir, source.entryFile),
    gameClass: source.gameClass,
    stateClass: source.stateClass,
    actionClass: source.actionClass,
    exchangeBytes: source.exchangeBytes,
  });
  return [path.join(buildDir, "entry.ts"), text];
}

/**
 * Writes `text` to `file` through a temporary file and a rename, so that a concurrent build of the
 * same cartridge (parallel test workers) never reads a half-written file.
 */
export async function writeFileAtomically(file: string, text: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.${Math.floor(performance.now() * 1000)}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, file);
}

/**
 * Computes the hash of a cartridge's inputs without compiling: the build command compares it
 * with the one recorded next to the last output to skip unchanged cartridges.
 */
export async function cartridgeInputsHash(
  source: CartridgeSource,
  options: CompileOptions,
): Promise<string> {
  const sdkRoot = findSdkRoot();
  const [, entryText] = entryFor(source);
  const asconfig = await readFile(path.join(sdkRoot, "asconfig.json"), "utf8");
  return hashInputs(source, sdkRoot, entryText, `${asconfig}\0${options.debug}`);
}

/**
 * Generates `DIR/build/entry.ts` and compiles it with asconfig.json's settings (release unless
 * `debug`). Throws `BuildError("Compile")` with the compiler's diagnostics on failure.
 */
export async function compileCartridge(
  source: CartridgeSource,
  options: CompileOptions,
): Promise<CompileResult> {
  const sdkRoot = findSdkRoot();
  const [entryPath, entryText] = entryFor(source);
  await writeFileAtomically(entryPath, entryText);
  const asconfigPath = path.join(sdkRoot, "asconfig.json");
  const asconfig = await readFile(asconfigPath, "utf8");
  const inputsHash = await hashInputs(source, sdkRoot, entryText, `${asconfig}\0${options.debug}`);
  const outName = "cartridge.wasm";
  const args = [
    entryPath,
    "--config",
    asconfigPath,
    "--target",
    options.debug ? "debug" : "release",
    "--outFile",
    outName,
  ];
  // A debug build also maps its code back to the source lines, for trap reports.
  if (options.debug) args.push("--sourceMap");
  if (options.textFile !== undefined) args.push("--textFile", path.resolve(options.textFile));
  let wasm: Uint8Array | undefined;
  let sourceMap: string | undefined;
  const messages: string[] = [];
  const stream = asc.createMemoryStream((chunk) => {
    messages.push(typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk));
  });
  const result = await asc.main(args, {
    stdout: stream,
    stderr: stream,
    readFile: async (filename, baseDir) => {
      const file = path.resolve(baseDir, filename);
      try {
        return await readFile(sdkFileFor(file, sdkRoot) ?? file, "utf8");
      } catch {
        return null;
      }
    },
    writeFile: async (filename, contents, baseDir) => {
      if (filename === outName && contents instanceof Uint8Array) {
        wasm = contents;
        return;
      }
      if (filename === `${outName}.map`) {
        sourceMap = typeof contents === "string" ? contents : new TextDecoder().decode(contents);
        return;
      }
      const target = path.resolve(baseDir, filename);
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, contents);
    },
  });
  const diagnostics = messages.join("");
  if (result.error !== null || wasm === undefined) {
    const reason = result.error?.message ?? "no output";
    throw new BuildError(
      "Compile",
      `${source.dir}: AssemblyScript compilation failed (${reason})\n${diagnostics}`.trimEnd(),
      { cause: result.error },
    );
  }
  return { wasm, diagnostics, inputsHash, ...(sourceMap === undefined ? {} : { sourceMap }) };
}
