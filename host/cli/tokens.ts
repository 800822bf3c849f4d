import { randomBytes } from "node:crypto";
import { appendFile, readFile } from "node:fs/promises";
import { Command, InvalidArgumentError } from "commander";
import { isRole, type Role } from "../server/auth/roles.js";
import { hashToken, parseTokens } from "../server/auth/tokens-file.js";

/**
 * `cartridge tokens add --file F --name N --roles read,play`: makes a new random bearer token,
 * appends its hash to the tokens file (created if missing) and prints the token once. The file
 * never holds the token itself; a running server picks the change up on SIGHUP.
 */
export async function addToken(
  file: string,
  name: string,
  roles: readonly Role[],
): Promise<string> {
  let existing = "";
  try {
    existing = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const token = randomBytes(32).toString("base64url");
  const entry = `\n[[token]]\nname = ${JSON.stringify(name)}\nsha256 = "${hashToken(token)}"\nroles = [${roles.map((r) => JSON.stringify(r)).join(", ")}]\n`;
  // Validate the file as it will be, so a bad name or a duplicate never reaches the disk.
  parseTokens(existing + entry, file);
  await appendFile(file, entry, { mode: 0o600 });
  return token;
}

function roleList(value: string): Role[] {
  const roles = value.split(",").map((part) => part.trim());
  if (roles.length === 0 || !roles.every(isRole)) {
    throw new InvalidArgumentError("expected roles among read, play, admin, comma-separated");
  }
  return roles;
}

export function tokensCommand(): Command {
  const add = new Command("add")
    .description("Create a bearer token, store its hash in the tokens file, print the token once.")
    .requiredOption("--file <file>", "tokens file (created if missing)")
    .requiredOption("--name <name>", "who the token is for (shown in logs, never secret)")
    .requiredOption("--roles <roles>", "comma-separated: read, play, admin", roleList)
    .action(async function (this: Command, options: { file: string; name: string; roles: Role[] }) {
      try {
        console.log(await addToken(options.file, options.name, options.roles));
      } catch (error) {
        this.error(`tokens add: ${error instanceof Error ? error.message : String(error)}`, {
          exitCode: 1,
        });
      }
    });
  return new Command("tokens").description("Bearer tokens and their roles.").addCommand(add);
}
