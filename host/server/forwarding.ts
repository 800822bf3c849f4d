import { type ChannelCredentials, credentials } from "@grpc/grpc-js";
import { readPem } from "./tls.js";

/**
 * How a follower reaches its leader's gRPC port, in the node's own security mode:
 *
 * - `channel`: plaintext when the node serves plaintext; otherwise TLS that verifies the leader's
 *   certificate against the cluster CA and presents this node's own server certificate as its
 *   client certificate (a leader started with `--tls-client-ca` requires one; node certificates
 *   from `cartridge certs init` carry clientAuth).
 * - `passToken`: with a tokens file the leader authorises every call again, so the follower passes
 *   the caller's own bearer token on (every node reads the same tokens file). A caller known only
 *   by its client certificate cannot be vouched for that way: the follower does not forward its
 *   call and answers UNAVAILABLE with the leader's address instead (it never lends the caller its
 *   own identity).
 */
export interface ForwardingSecurity {
  readonly channel: ChannelCredentials;
  readonly passToken: boolean;
}

/** PEM files a node has for its forwarding channel (paths, as flags and the config give them). */
export interface ForwardingFiles {
  /** This node's server certificate and key (`--tls-cert`, `--tls-key`); plaintext without. */
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
  /**
   * The CA that signed the other nodes' server certificates; the system's roots without (a
   * public CA). The node passes `--tls-client-ca` or the consensus CA, the cluster CA of
   * `cartridge certs init`.
   */
  readonly caFile?: string | undefined;
  /** Whether the node requires identities (a tokens file). */
  readonly tokens: boolean;
}

/** Reads the files and builds the forwarding channel's security (see {@link ForwardingSecurity}). */
export async function forwardingSecurity(files: ForwardingFiles): Promise<ForwardingSecurity> {
  if (files.certFile === undefined || files.keyFile === undefined) {
    return { channel: credentials.createInsecure(), passToken: files.tokens };
  }
  const [cert, key, ca] = await Promise.all([
    readPem(files.certFile, "--tls-cert"),
    readPem(files.keyFile, "--tls-key"),
    files.caFile === undefined ? null : readPem(files.caFile, "the cluster CA"),
  ]);
  return { channel: credentials.createSsl(ca, key, cert), passToken: files.tokens };
}
