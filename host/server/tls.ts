import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { ServerCredentials } from "@grpc/grpc-js";

/** PEM files of a TLS server; with `clientCaFile`, clients must present a certificate it signed. */
export interface ServerTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCaFile?: string | undefined;
}

/** Largest PEM file read, in bytes (a chain of a few certificates is a few KiB). */
const PEM_MAX_BYTES = 1024 * 1024;

/** A server whose security settings are unsafe or unusable; the message says what to change. */
export class SecurityConfigError extends Error {
  override readonly name = "SecurityConfigError";
}

export async function readPem(file: string, what: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new SecurityConfigError(`${what} ${file}: cannot read (${code})`);
  }
  if (bytes.byteLength > PEM_MAX_BYTES || !bytes.toString("latin1").includes("-----BEGIN ")) {
    throw new SecurityConfigError(`${what} ${file}: not a PEM file`);
  }
  return bytes;
}

/** Plaintext credentials without `tls`; otherwise TLS, requiring client certificates with a CA. */
export async function serverCredentials(
  tls: ServerTlsFiles | undefined,
): Promise<ServerCredentials> {
  if (tls === undefined) return ServerCredentials.createInsecure();
  const [cert, key, clientCa] = await Promise.all([
    readPem(tls.certFile, "--tls-cert"),
    readPem(tls.keyFile, "--tls-key"),
    tls.clientCaFile === undefined ? undefined : readPem(tls.clientCaFile, "--tls-client-ca"),
  ]);
  // With a client CA the server also *requires* a certificate: grpc-js would otherwise accept a
  // connection whose certificate failed verification, and its identity could not be trusted.
  return ServerCredentials.createSsl(
    clientCa ?? null,
    [{ cert_chain: cert, private_key: key }],
    clientCa !== undefined,
  );
}

/** Whether `host` only accepts connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "");
  if (bare === "localhost") return true;
  if (isIP(bare) === 4) return bare.startsWith("127.");
  if (isIP(bare) === 6) return bare === "::1";
  return false;
}

/** What a server is asked to do about security. */
export interface SecurityRequest {
  readonly host: string;
  readonly tls: ServerTlsFiles | undefined;
  /** A tokens file: calls need an identity listed there. */
  readonly tokensFile: string | undefined;
  /** The operator's explicit `--insecure`. */
  readonly insecure: boolean;
}

/** The security a server will run with, once `checkSecurity` has accepted the request. */
export interface SecurityPosture {
  /** Every caller holds every role (no tokens file). */
  readonly open: boolean;
  /** Plaintext or unauthenticated on a non-loopback address, as the operator insisted. */
  readonly insecure: boolean;
}

/**
 * Refuses what would expose the service by accident: a non-loopback bind serves TLS and asks for
 * identities unless the operator says `--insecure`, which the server then logs and shows in its
 * health. On loopback without a tokens file everything stays open, as a development server is.
 */
export function checkSecurity(request: SecurityRequest): SecurityPosture {
  const loopback = isLoopbackHost(request.host);
  if (loopback || request.insecure) {
    return {
      open: request.tokensFile === undefined,
      insecure: !loopback && (request.tls === undefined || request.tokensFile === undefined),
    };
  }
  if (request.tls === undefined) {
    throw new SecurityConfigError(
      `${request.host} is not a loopback address: serve TLS (--tls-cert and --tls-key), ` +
        "or pass --insecure to serve plaintext anyway",
    );
  }
  if (request.tokensFile === undefined) {
    throw new SecurityConfigError(
      `${request.host} is not a loopback address: say who may call with --tokens FILE, ` +
        "or pass --insecure to let every caller do everything",
    );
  }
  return { open: false, insecure: false };
}
