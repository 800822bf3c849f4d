import { z } from "zod";
import { ABI_VERSION } from "./abi.js";
import { LoadError } from "./errors.js";

/** Largest manifest the host reads, in bytes. */
export const MANIFEST_MAX_BYTES = 65_536;

/** Longest env id, in characters (ASCII by the pattern, so also in bytes). */
export const ENV_ID_MAX_CHARS = 64;
/** What an env id looks like: `name-v1`. */
export const ENV_ID_PATTERN = /^[a-z][a-z0-9_.]*(-[a-z0-9_.]+)*-v[0-9]+$/;
const ENCODING_PATTERN = /^[a-z0-9_]+:v[0-9]+$/;
const DTYPE_BYTES = { f32: 4, u8: 1, i32: 4 } as const;

const finite = z.number().finite();
// Box actions travel as f32, so a bound must stay finite once rounded to f32 (1e39 is a finite
// double but an infinite f32).
const finiteF32 = finite.refine(
  (value) => Number.isFinite(Math.fround(value)),
  "must be a finite f32 (magnitude at most 3.4028235e38)",
);
const count = (min: number, max: number) => z.number().int().min(min).max(max);

const actionSpaceSchema = z.union([
  z.strictObject({ discrete: z.strictObject({ n: count(1, 4096) }) }),
  z.strictObject({
    multi_discrete: z.strictObject({ nvec: z.array(count(1, 4096)).min(1).max(64) }),
  }),
  z.strictObject({
    box: z.strictObject({
      low: z.array(finiteF32).min(1).max(1024),
      high: z.array(finiteF32).min(1).max(1024),
      shape: z.array(count(1, 1024)).min(1).max(8),
    }),
  }),
]);

const manifestSchema = z.strictObject({
  abi_version: z.literal(ABI_VERSION),
  env_id: z.string().max(ENV_ID_MAX_CHARS).regex(ENV_ID_PATTERN, "must look like name-v1"),
  version: z.string().min(1).max(64),
  description: z.string().max(1024).optional(),
  encoding: z.strictObject({
    state: z.string().max(64).regex(ENCODING_PATTERN),
    action: z.string().max(64).regex(ENCODING_PATTERN),
    obs: z.string().max(64).regex(ENCODING_PATTERN),
    schema_version: count(0, 2 ** 31 - 1),
  }),
  action_space: actionSpaceSchema,
  observation: z.strictObject({
    dtype: z.enum(["f32", "u8", "i32"]),
    shape: z.array(count(0, 1 << 20)).max(8),
  }),
  players: count(1, 16),
  max_horizon: count(1, 1_000_000),
  preferred_batch: count(1, 4096),
  state_bytes: count(1, 65_536),
  action_bytes: count(1, 4096),
  obs_bytes: count(0, 1 << 20),
  hint_max_bytes: count(0, 4096),
});

/** The manifest exactly as a cartridge declares it (docs/abi.md, section 3). */
export type CartridgeManifest = z.infer<typeof manifestSchema>;
export type ActionSpace = CartridgeManifest["action_space"];

/** The action space in a shape that is convenient to switch on. */
export type ActionSpaceKind =
  | { kind: "discrete"; n: number }
  | { kind: "multi_discrete"; nvec: readonly number[] }
  | { kind: "box"; low: readonly number[]; high: readonly number[]; shape: readonly number[] };

/** Turns the JSON form of an action space into a tagged union. */
export function actionSpaceKind(space: ActionSpace): ActionSpaceKind {
  if ("discrete" in space) return { kind: "discrete", n: space.discrete.n };
  if ("multi_discrete" in space) return { kind: "multi_discrete", nvec: space.multi_discrete.nvec };
  return { kind: "box", ...space.box };
}

/** Number of bytes in the legal-action mask, or 0 when the space has no mask (box). */
export function legalMaskBytes(space: ActionSpace): number {
  const kind = actionSpaceKind(space);
  if (kind.kind === "discrete") return kind.n;
  if (kind.kind === "multi_discrete") return kind.nvec.reduce((a, b) => a + b, 0);
  return 0;
}

function product(values: readonly number[]): number {
  return values.reduce((a, b) => a * b, 1);
}

/** Checks the rules that tie several fields together; returns a message or undefined. */
function crossFieldProblem(m: CartridgeManifest): string | undefined {
  const space = actionSpaceKind(m.action_space);
  if (space.kind === "discrete" && m.action_bytes !== 4) {
    return `action_bytes must be 4 for a discrete space, got ${m.action_bytes}`;
  }
  if (space.kind === "multi_discrete") {
    if (m.action_bytes !== 4 * space.nvec.length) {
      return `action_bytes must be 4 * len(nvec) = ${4 * space.nvec.length}, got ${m.action_bytes}`;
    }
    if (legalMaskBytes(m.action_space) > 4096) return "sum(nvec) must be at most 4096";
  }
  if (space.kind === "box") {
    const size = product(space.shape);
    if (size > 1024) return `box shape has ${size} elements; the limit is 1024`;
    if (space.low.length !== size || space.high.length !== size) {
      return `box low and high must have ${size} elements (the product of shape)`;
    }
    if (space.low.some((low, i) => low > (space.high[i] ?? Number.NaN))) {
      return "box low must not exceed high";
    }
    if (m.action_bytes !== 4 * size) {
      return `action_bytes must be 4 * product(shape) = ${4 * size}, got ${m.action_bytes}`;
    }
  }
  const obsSize = product(m.observation.shape) * DTYPE_BYTES[m.observation.dtype];
  if (obsSize !== m.obs_bytes) {
    return `obs_bytes must equal product(observation.shape) * sizeof(${m.observation.dtype}) = ${obsSize}, got ${m.obs_bytes}`;
  }
  return undefined;
}

/**
 * Parses and validates manifest bytes. Throws a `LoadError` with code `BadManifest` that names the
 * offending field.
 */
export function parseManifest(bytes: Uint8Array, source?: string): CartridgeManifest {
  if (bytes.byteLength > MANIFEST_MAX_BYTES) {
    throw new LoadError(
      "BadManifest",
      `manifest is ${bytes.byteLength} bytes; the limit is ${MANIFEST_MAX_BYTES}`,
      source,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new LoadError("BadManifest", "manifest is not valid UTF-8 JSON", source, { cause });
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined ? "" : issue.path.join(".") || "(root)";
    throw new LoadError("BadManifest", `manifest field ${where}: ${issue?.message}`, source);
  }
  const problem = crossFieldProblem(parsed.data);
  if (problem !== undefined) throw new LoadError("BadManifest", `manifest: ${problem}`, source);
  return parsed.data;
}
