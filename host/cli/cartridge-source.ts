import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseToml } from "smol-toml";
import { z } from "zod";
import { ABI_VERSION, EXCHANGE_MAX_BYTES, infoBytes } from "../runtime/abi.js";
import { isCartridgeError } from "../runtime/errors.js";
import { singleLayout } from "../runtime/exchange-layout.js";
import type { CartridgeManifest } from "../runtime/manifest.js";
import { legalMaskBytes, parseManifest } from "../runtime/manifest.js";

/** Name of the file that declares a cartridge. */
export const CARTRIDGE_TOML = "cartridge.toml";
/** Largest cartridge.toml read, in bytes. */
const TOML_MAX_BYTES = 256 * 1024;
/** Smallest default exchange region: one page costs nothing and allows larger host batches. */
const EXCHANGE_FLOOR_BYTES = 64 * 1024;

/** Why a cartridge could not be built. `BadConfig`: cartridge.toml; the others name the stage. */
export type BuildErrorCode = "BadConfig" | "Compile" | "Validation" | "Io";

/** A build failed; the message names the file and, for configuration errors, the field. */
export class BuildError extends Error {
  override readonly name = "BuildError";
  constructor(
    readonly code: BuildErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const identifier = z.string().regex(/^[A-Za-z_$][A-Za-z0-9_$]*$/, "must be a class name");

const buildTableSchema = z.strictObject({
  entry: z
    .string()
    .regex(/^[A-Za-z0-9_./-]+\.ts$/, "must be a relative path to a .ts file")
    .default("assembly/game.ts"),
  class: identifier,
  state: identifier.default("State"),
  action: identifier.default("Action"),
  exchange_bytes: z.number().int().min(16).max(EXCHANGE_MAX_BYTES).optional(),
});

const tomlSchema = z.strictObject({
  build: buildTableSchema,
  manifest: z.record(z.string(), z.unknown()),
});

/** A cartridge folder, read and checked: everything the build needs. */
export interface CartridgeSource {
  /** Absolute path of the folder holding cartridge.toml. */
  readonly dir: string;
  readonly manifest: CartridgeManifest;
  /** Absolute path of the file that defines the game class. */
  readonly entryFile: string;
  readonly gameClass: string;
  readonly stateClass: string;
  readonly actionClass: string;
  readonly exchangeBytes: number;
}

/**
 * The smallest exchange region docs/abi.md section 2 allows: room for a preferred batch, for a
 * whole rollout and for the host's single-call layout (hint, state, action, output state,
 * observation, info and legal-action mask side by side, which the loader requires and which
 * outgrows the other two when the hint or the mask is large), rounded up to 16 bytes.
 */
export function minimumExchangeBytes(manifest: CartridgeManifest): number {
  const info = infoBytes(manifest.players);
  const { state_bytes: state, action_bytes: action, obs_bytes: obs } = manifest;
  const batch = manifest.preferred_batch * (2 * state + action + obs + info);
  const rollout = manifest.max_horizon * (state + action + obs + info);
  const single = singleLayout(0, {
    stateBytes: state,
    actionBytes: action,
    obsBytes: obs,
    infoBytes: info,
    hintMaxBytes: manifest.hint_max_bytes,
    legalMaskBytes: legalMaskBytes(manifest.action_space),
  }).end;
  return Math.ceil(Math.max(batch, rollout, single) / 16) * 16;
}

/** The exchange size used when cartridge.toml sets none: the minimum, but at least 64 KiB. */
export function defaultExchangeBytes(manifest: CartridgeManifest): number {
  return Math.max(minimumExchangeBytes(manifest), EXCHANGE_FLOOR_BYTES);
}

/** Describes the first zod issue as "field: message". */
function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue === undefined ? "" : issue.path.join(".");
  return `${where === "" ? "(top level)" : where}: ${issue?.message ?? "invalid"}`;
}

/**
 * Reads `dir/cartridge.toml`, validates its `[build]` table and its `[manifest]` table (with
 * `parseManifest`, so the rules are the host's), and checks the exchange size. Throws
 * `BuildError("BadConfig")` naming the file and field.
 */
export async function readCartridgeSource(dir: string): Promise<CartridgeSource> {
  const absDir = path.resolve(dir);
  const tomlPath = path.join(absDir, CARTRIDGE_TOML);
  let text: string;
  try {
    if ((await stat(tomlPath)).size > TOML_MAX_BYTES) {
      throw new BuildError("BadConfig", `${tomlPath}: larger than ${TOML_MAX_BYTES} bytes`);
    }
    text = await readFile(tomlPath, "utf8");
  } catch (cause) {
    if (cause instanceof BuildError) throw cause;
    throw new BuildError("BadConfig", `${tomlPath}: cannot read (${String(cause)})`, { cause });
  }
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new BuildError("BadConfig", `${tomlPath}: not valid TOML: ${reason}`, { cause });
  }
  const parsed = tomlSchema.safeParse(raw);
  if (!parsed.success) {
    throw new BuildError("BadConfig", `${tomlPath}: ${describeIssue(parsed.error)}`);
  }
  const { build } = parsed.data;
  const manifestJson = { abi_version: ABI_VERSION, ...parsed.data.manifest };
  let manifest: CartridgeManifest;
  try {
    manifest = parseManifest(new TextEncoder().encode(JSON.stringify(manifestJson)));
  } catch (cause) {
    const reason = isCartridgeError(cause) ? cause.message : String(cause);
    throw new BuildError("BadConfig", `${tomlPath}: [manifest] ${reason}`, { cause });
  }
  const entryFile = path.resolve(absDir, build.entry);
  if (!entryFile.startsWith(absDir + path.sep)) {
    throw new BuildError("BadConfig", `${tomlPath}: build.entry must stay inside ${absDir}`);
  }
  if (!existsSync(entryFile)) {
    throw new BuildError("BadConfig", `${tomlPath}: build.entry ${build.entry} does not exist`);
  }
  const exchangeBytes = build.exchange_bytes ?? defaultExchangeBytes(manifest);
  const needed = minimumExchangeBytes(manifest);
  if (exchangeBytes < needed || exchangeBytes % 16 !== 0 || exchangeBytes > EXCHANGE_MAX_BYTES) {
    throw new BuildError(
      "BadConfig",
      `${tomlPath}: build.exchange_bytes must be a multiple of 16 between ${needed} and ${EXCHANGE_MAX_BYTES}`,
    );
  }
  return {
    dir: absDir,
    manifest,
    entryFile,
    gameClass: build.class,
    stateClass: build.state,
    actionClass: build.action,
    exchangeBytes,
  };
}

/**
 * The repository folder that holds `sdk/assembly/index.ts` and `asconfig.json`, found by walking up
 * from this module (it runs from host/cli under tsx and from dist/host/cli once compiled).
 */
export function findSdkRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, "sdk", "assembly", "index.ts"))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new BuildError("Io", "cannot find sdk/assembly/index.ts");
    dir = parent;
  }
}
