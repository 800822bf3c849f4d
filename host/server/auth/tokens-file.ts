import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { parse as parseToml } from "smol-toml";
import { z } from "zod";
import type { Identity } from "./identity.js";
import { ROLES } from "./roles.js";

/**
 * The tokens file (`--tokens FILE` or the node config): who may call, and with which roles. It
 * holds only SHA-256 hashes of bearer tokens (tokens are 256-bit random strings, so a plain hash
 * is enough; there is nothing to brute-force), and the common names of client certificates:
 *
 * ```toml
 * [[token]]
 * name = "trainer"          # for logs and the manifest's "deployed by"
 * sha256 = "9f86d08..."     # hex SHA-256 of the token; `cartridge tokens add` prints a new one
 * roles = ["read", "play"]
 *
 * [[certificate]]
 * common_name = "ops"       # the CN of a client certificate signed by --tls-client-ca
 * roles = ["read", "admin"]
 * ```
 */

/** Largest tokens file read, in bytes. */
export const TOKENS_FILE_MAX_BYTES = 1024 * 1024;
/** Most entries (tokens plus certificates) in one file. */
export const TOKENS_MAX = 10_000;
/** Longest bearer token looked up, in characters; a longer one is refused unhashed. */
export const TOKEN_MAX_CHARS = 512;

const NAME = z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/, "must be 1-64 letters, digits or . _ @ -");
const ROLE_LIST = z.array(z.enum(ROLES)).min(1).max(ROLES.length);

const fileSchema = z.strictObject({
  token: z
    .array(
      z.strictObject({
        name: NAME,
        sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits"),
        roles: ROLE_LIST,
      }),
    )
    .max(TOKENS_MAX)
    .default([]),
  certificate: z
    .array(z.strictObject({ common_name: NAME, roles: ROLE_LIST }))
    .max(TOKENS_MAX)
    .default([]),
});

/** The parsed file: identities by token hash and by certificate common name. */
export interface TokenTable {
  readonly byTokenHash: ReadonlyMap<string, Identity>;
  readonly byCommonName: ReadonlyMap<string, Identity>;
}

/** A tokens file that cannot be used; the message names the file and the key. */
export class TokensFileError extends Error {
  override readonly name = "TokensFileError";
}

/** Hex SHA-256 of a bearer token, as the tokens file stores it. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Parses the text of a tokens file; `source` names it in errors. */
export function parseTokens(text: string, source: string): TokenTable {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (error) {
    throw new TokensFileError(`${source}: not valid TOML (${(error as Error).message})`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join(".") || "(top level)";
    throw new TokensFileError(`${source}: ${where}: ${issue?.message ?? "invalid"}`);
  }
  const byTokenHash = new Map<string, Identity>();
  for (const entry of parsed.data.token) {
    if (byTokenHash.has(entry.sha256)) {
      throw new TokensFileError(`${source}: token "${entry.name}" repeats another token's hash`);
    }
    byTokenHash.set(entry.sha256, { name: entry.name, roles: new Set(entry.roles), via: "token" });
  }
  const byCommonName = new Map<string, Identity>();
  for (const entry of parsed.data.certificate) {
    if (byCommonName.has(entry.common_name)) {
      throw new TokensFileError(`${source}: certificate "${entry.common_name}" is listed twice`);
    }
    byCommonName.set(entry.common_name, {
      name: entry.common_name,
      roles: new Set(entry.roles),
      via: "certificate",
    });
  }
  return { byTokenHash, byCommonName };
}

/** Reads and parses a tokens file (size-checked before reading). */
export async function loadTokens(file: string): Promise<TokenTable> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (error) {
    throw new TokensFileError(`${file}: cannot read (${(error as NodeJS.ErrnoException).code})`);
  }
  if (size > TOKENS_FILE_MAX_BYTES) {
    throw new TokensFileError(`${file}: larger than ${TOKENS_FILE_MAX_BYTES} bytes`);
  }
  return parseTokens(await readFile(file, "utf8"), file);
}
