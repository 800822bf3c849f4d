import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { Command } from "commander";
import { SDK_MODULE } from "./cartridge-compiler.js";
import { BuildError } from "./cartridge-source.js";
import { classNameFor, scaffoldFiles } from "./templates/scaffold.js";

/** A cartridge name: the env id without its `-vN` suffix. */
const NAME_PATTERN = /^[a-z][a-z0-9_.]*(-[a-z0-9_.]+)*$/;
/** Longest name, so that `${name}-v1` stays within the manifest's 64-character limit. */
const NAME_MAX_LENGTH = 60;

/**
 * Writes a new cartridge folder `dir/name` (or `name` under the current folder) holding a working
 * game, its cartridge.toml and a README. Refuses to touch an existing folder. Returns the folder.
 */
export async function scaffoldCartridge(name: string, dir?: string): Promise<string> {
  if (!NAME_PATTERN.test(name) || name.length > NAME_MAX_LENGTH || /-v[0-9]+$/.test(name)) {
    throw new BuildError(
      "BadConfig",
      `invalid cartridge name "${name}": use lowercase letters, digits, "_", "." and "-", ` +
        `start with a letter, at most ${NAME_MAX_LENGTH} characters, and no -vN suffix ` +
        "(the env id gets -v1)",
    );
  }
  const target = path.resolve(dir ?? ".", name);
  if (existsSync(target)) throw new BuildError("Io", `${target} already exists`);
  const assemblyDir = path.join(target, "assembly");
  const files = scaffoldFiles({ name, className: classNameFor(name), sdkImport: SDK_MODULE });
  await mkdir(assemblyDir, { recursive: true });
  for (const [file, text] of Object.entries(files)) {
    await writeFile(path.join(target, file), text);
  }
  return target;
}

/** `cartridge new NAME [--dir D]`. */
export function newCommand(): Command {
  return new Command("new")
    .description("Create a new cartridge folder with a working example game (Nim).")
    .argument("<name>", "cartridge name; the env id is NAME-v1")
    .option("--dir <dir>", "parent folder (default: the current folder)")
    .action(async (name: string, flags: { dir?: string }) => {
      try {
        const target = await scaffoldCartridge(name, flags.dir);
        const relative = path.relative(process.cwd(), target);
        const shown = relative.startsWith("..") ? target : relative;
        console.log(`created ${shown}; build it with: cartridge build ${shown}`);
      } catch (error) {
        console.error(`cartridge new: ${error instanceof Error ? error.message : String(error)}`);
        process.exitCode = 1;
      }
    });
}
