import { readFile } from "node:fs/promises";
import { type Command, InvalidArgumentError, Option } from "commander";
import type { ClientCredentialsOptions } from "../client/credentials.js";

/**
 * What the commands that talk to running nodes (`cartridge cluster status`, `cartridge deploy`)
 * share: the `--endpoints` list and the credentials flags (the same meaning as the TypeScript
 * client's options, docs/security.md).
 */

/** Most endpoints one command takes (a cluster has at most 15 members). */
export const MAX_ENDPOINTS = 15;
/** Environment variable holding a bearer token when no --token-file is given. */
export const TOKEN_ENV = "CARTRIDGE_TOKEN";
/** Largest token file read (a token is 43 characters; the rest is whitespace). */
const MAX_TOKEN_FILE_BYTES = 4096;

/** Parses "HOST:PORT,HOST:PORT": 1 to {@link MAX_ENDPOINTS} of them. */
export function endpointList(value: string): string[] {
  const endpoints = value
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "");
  if (endpoints.length === 0 || endpoints.length > MAX_ENDPOINTS) {
    throw new InvalidArgumentError(`expected 1 to ${MAX_ENDPOINTS} HOST:PORT, comma separated`);
  }
  for (const endpoint of endpoints) {
    if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(endpoint)) {
      throw new InvalidArgumentError(`"${endpoint.slice(0, 80)}" is not HOST:PORT`);
    }
  }
  return endpoints;
}

/** The flags {@link addRemoteOptions} adds, as commander parses them. */
export interface RemoteFlags {
  readonly endpoints: string[];
  readonly tlsCa?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly tokenFile?: string;
}

/** Adds `--endpoints` and the credentials flags to `command`. */
export function addRemoteOptions(command: Command): Command {
  return command
    .requiredOption("--endpoints <list>", "gRPC endpoints, HOST:PORT,HOST:PORT,...", endpointList)
    .option("--tls-ca <file>", "talk TLS, trusting this PEM CA (the system's roots without it)")
    .option("--tls-cert <file>", "client certificate (PEM), for nodes started with --tls-client-ca")
    .option("--tls-key <file>", "the PEM private key of --tls-cert")
    .addOption(
      new Option(
        "--token-file <file>",
        `file holding a bearer token (cartridge tokens add); default: $${TOKEN_ENV}`,
      ),
    );
}

async function readPem(file: string, flag: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new Error(`${flag} ${file}: cannot read (${(error as NodeJS.ErrnoException).code})`);
  }
}

/**
 * The client credentials the flags describe. TLS is on when any TLS flag is given; a token comes
 * from --token-file or the environment, never from the command line (where `ps` would show it).
 */
export async function remoteCredentials(
  flags: RemoteFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ClientCredentialsOptions> {
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
    throw new Error("--tls-cert and --tls-key go together");
  }
  const tlsWanted =
    flags.tlsCa !== undefined || flags.tlsCert !== undefined || flags.tlsKey !== undefined;
  const tls = tlsWanted
    ? {
        ca: flags.tlsCa === undefined ? undefined : await readPem(flags.tlsCa, "--tls-ca"),
        cert: flags.tlsCert === undefined ? undefined : await readPem(flags.tlsCert, "--tls-cert"),
        key: flags.tlsKey === undefined ? undefined : await readPem(flags.tlsKey, "--tls-key"),
      }
    : undefined;
  let token: string | undefined;
  if (flags.tokenFile !== undefined) {
    const text = (await readPem(flags.tokenFile, "--token-file")).subarray(0, MAX_TOKEN_FILE_BYTES);
    token = new TextDecoder().decode(text).trim();
    if (token === "" || /\s/.test(token)) {
      throw new Error(`--token-file ${flags.tokenFile}: expected one token on one line`);
    }
  } else if (env[TOKEN_ENV] !== undefined && env[TOKEN_ENV] !== "") {
    token = env[TOKEN_ENV];
  }
  return { token, tls };
}
