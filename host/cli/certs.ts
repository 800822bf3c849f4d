import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { Command, InvalidArgumentError } from "commander";
import { replicaUri } from "../consensus/transport/peer-identity.js";

/**
 * `cartridge certs init`: a certificate authority and the node and client certificates a
 * development or test cluster needs, made by the `openssl` binary (Debian's), never by hand-rolled
 * crypto. Keys are P-256; certificates last `days`. Not for production, where an operator's own
 * CA issues them; the names and extensions are what production certificates need too:
 *
 * - node `N`: CN `node-N`, subjectAltName `URI:urn:cartridge:replica:N` (what the consensus
 *   transport checks), `DNS:localhost`, `IP:127.0.0.1`, `IP:::1`; server and client auth.
 * - client `C`: CN `C` (the name a tokens file gives roles to); client auth.
 */

const run = promisify(execFile);
const NAME = /^[A-Za-z0-9._-]{1,64}$/;
/** Longest an openssl call may take before the command gives up. */
const OPENSSL_TIMEOUT_MS = 30_000;

export interface CertsInitOptions {
  readonly dir: string;
  readonly nodes: readonly string[];
  readonly clients: readonly string[];
  readonly days: number;
}

/** What `certsInit` wrote, by role, as PEM file paths. */
export interface WrittenCerts {
  readonly ca: { cert: string; key: string };
  readonly nodes: ReadonlyMap<string, { cert: string; key: string }>;
  readonly clients: ReadonlyMap<string, { cert: string; key: string }>;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run("openssl", args, { cwd, timeout: OPENSSL_TIMEOUT_MS });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
    throw new Error(
      missing
        ? "the openssl command is not installed (Debian: apt-get install openssl)"
        : `openssl ${args[0]} failed: ${stderr.trim().slice(0, 500)}`,
    );
  }
}

async function issue(
  dir: string,
  name: string,
  subject: string,
  extensions: string,
  days: number,
): Promise<{ cert: string; key: string }> {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  await writeFile(ext, extensions);
  await openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key], dir);
  await chmod(key, 0o600);
  await openssl(["req", "-new", "-key", key, "-subj", subject, "-out", csr], dir);
  await openssl(
    ["x509", "-req", "-in", csr, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"].concat([
      "-days",
      String(days),
      "-sha256",
      "-extfile",
      ext,
      "-out",
      cert,
    ]),
    dir,
  );
  await rm(csr);
  await rm(ext);
  return { cert, key };
}

/** Writes the CA and every certificate into `dir` (which must not hold a CA already). */
export async function certsInit(options: CertsInitOptions): Promise<WrittenCerts> {
  const dir = path.resolve(options.dir);
  for (const name of [...options.nodes, ...options.clients]) {
    if (!NAME.test(name)) throw new Error(`invalid name "${name.slice(0, 80)}"`);
  }
  if (existsSync(path.join(dir, "ca.key"))) {
    throw new Error(`${dir} already holds a CA (ca.key); choose an empty folder`);
  }
  await mkdir(dir, { recursive: true });
  await openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"], dir);
  await chmod(path.join(dir, "ca.key"), 0o600);
  await openssl(
    ["req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=Cartridge development CA"]
      .concat(["-days", String(options.days), "-sha256", "-out", "ca.crt"])
      .concat(["-addext", "basicConstraints=critical,CA:TRUE"])
      .concat(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]),
    dir,
  );
  const nodes = new Map<string, { cert: string; key: string }>();
  for (const id of options.nodes) {
    const san = `URI:${replicaUri(id)},DNS:localhost,IP:127.0.0.1,IP:::1`;
    const ext = `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${san}\n`;
    nodes.set(id, await issue(dir, `node-${id}`, `/CN=node-${id}`, ext, options.days));
  }
  const clients = new Map<string, { cert: string; key: string }>();
  for (const name of options.clients) {
    const ext =
      "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n";
    clients.set(name, await issue(dir, `client-${name}`, `/CN=${name}`, ext, options.days));
  }
  await rm(path.join(dir, "ca.srl"), { force: true });
  return {
    ca: { cert: path.join(dir, "ca.crt"), key: path.join(dir, "ca.key") },
    nodes,
    clients,
  };
}

function nameList(value: string): string[] {
  const names = value
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "");
  if (names.length === 0 || names.some((name) => !NAME.test(name))) {
    throw new InvalidArgumentError("expected a comma-separated list of names like 1,2,3");
  }
  return names;
}

function dayCount(value: string): number {
  const days = Number(value);
  if (!Number.isInteger(days) || days < 1 || days > 36_500) {
    throw new InvalidArgumentError("expected whole days, 1..36500");
  }
  return days;
}

/** `cartridge certs init --dir DIR --nodes 1,2,3 [--clients admin,reader]`. */
export function certsCommand(): Command {
  const init = new Command("init")
    .description("Write a development CA and node and client certificates (needs openssl).")
    .requiredOption("--dir <dir>", "folder to write ca.crt, node-N.crt/.key, client-C.crt/.key")
    .requiredOption("--nodes <ids>", "replica ids, comma-separated (e.g. 1,2,3)", nameList)
    .option("--clients <names>", "client certificate names, comma-separated", nameList, ["admin"])
    .option("--days <days>", "validity in days", dayCount, 365)
    .action(async function (this: Command, options: CertsInitOptions) {
      try {
        const written = await certsInit(options);
        console.log(
          `wrote ${written.ca.cert}, ${written.nodes.size} node and ${written.clients.size} client certificate(s) in ${path.dirname(written.ca.cert)}`,
        );
      } catch (error) {
        this.error(`certs init: ${error instanceof Error ? error.message : String(error)}`, {
          exitCode: 1,
        });
      }
    });
  return new Command("certs")
    .description("Certificates for TLS between nodes and clients.")
    .addCommand(init);
}
