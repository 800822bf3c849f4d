import {
  type CallOptions,
  type ChannelCredentials,
  type Client,
  credentials,
  Metadata,
  type ServerUnaryCall,
  type ServiceError,
} from "@grpc/grpc-js";
import { ConsensusError } from "../consensus/core/errors.js";
import { AUTHORIZATION_METADATA_KEY } from "./auth/authenticator.js";
import { REQUEST_ID_METADATA_KEY } from "./call-context.js";
import { ERROR_CODE_METADATA_KEY, RelayedError } from "./status.js";
import { readPem } from "./tls.js";

/** Request metadata marking a call a follower forwarded; the receiver never forwards it again. */
export const FORWARDED_METADATA_KEY = "cartridge-forwarded";

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

type ClientConstructor<C extends Client> = new (
  address: string,
  channelCredentials: ChannelCredentials,
) => C;

/** Starts one unary call on `client` with `metadata` and `options`. */
export type ForwardCall<C extends Client, Res> = (
  client: C,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => void;

/**
 * Relays unary calls from a follower to its leader. Keeps one channel per service client class
 * and leader address (replaced when the leader moves), bounds each relay by the caller's deadline
 * and its own timeout, and tells a lost answer (outcome unknown: `Indeterminate`) from the
 * leader's own refusal (passed on as it came, typed code and metadata included). Shared by the
 * services a follower forwards (Cluster KV, and the replicated console's).
 */
export class Forwarder {
  private readonly clients = new Map<
    ClientConstructor<Client>,
    { address: string; client: Client }
  >();

  constructor(
    private readonly security: ForwardingSecurity,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Why `metadata` (of an incoming call) may not be forwarded, or undefined if it may: a call
   * that was forwarded already goes no further, and with tokens only a call that carries one
   * can be vouched for at the leader.
   */
  refusal(metadata: Metadata): string | undefined {
    if (metadata.get(FORWARDED_METADATA_KEY).length > 0) return "the call was forwarded already";
    if (this.security.passToken && metadata.get(AUTHORIZATION_METADATA_KEY).length !== 1) {
      return "only a call with a bearer token is forwarded; send it to the leader";
    }
    return undefined;
  }

  /** Relays `call` to the leader at `address`; resolves with its answer or rejects (see class). */
  relay<C extends Client, Req, Res>(
    make: ClientConstructor<C>,
    address: string,
    call: ServerUnaryCall<Req, Res>,
    start: ForwardCall<C, Res>,
  ): Promise<Res> {
    const metadata = new Metadata();
    metadata.set(FORWARDED_METADATA_KEY, "1");
    const requestId = call.metadata.get(REQUEST_ID_METADATA_KEY)[0];
    if (typeof requestId === "string") metadata.set(REQUEST_ID_METADATA_KEY, requestId);
    const token = call.metadata.get(AUTHORIZATION_METADATA_KEY)[0];
    if (this.security.passToken && typeof token === "string") {
      metadata.set(AUTHORIZATION_METADATA_KEY, token);
    }
    const deadline = Math.min(deadlineMs(call.getDeadline()), Date.now() + this.timeoutMs);
    return new Promise<Res>((resolve, reject) => {
      start(this.client(make, address), metadata, { deadline }, (error, response) => {
        if (error === null) {
          resolve(response);
          return;
        }
        const errorCode = String(error.metadata?.get(ERROR_CODE_METADATA_KEY)[0] ?? "");
        if (errorCode === "") {
          // The leader never answered (connection lost, deadline): the call may or may not have
          // reached it, so its outcome is unknown; a retry with the same ids settles it.
          reject(new ConsensusError("Indeterminate", `forwarded to ${address}: ${error.details}`));
          return;
        }
        reject(new RelayedError(error.code, error.details, errorCode, error.metadata));
      });
    });
  }

  /** Closes every forwarding channel. */
  close(): void {
    for (const { client } of this.clients.values()) client.close();
    this.clients.clear();
  }

  private client<C extends Client>(make: ClientConstructor<C>, address: string): C {
    const known = this.clients.get(make);
    if (known?.address === address) return known.client as C;
    known?.client.close();
    const client = new make(address, this.security.channel);
    this.clients.set(make, { address, client });
    return client;
  }
}

/** A call's deadline in epoch ms (grpc-js gives a Date, a number, or Infinity for none). */
function deadlineMs(deadline: Date | number): number {
  if (deadline instanceof Date) return deadline.getTime();
  return Number.isFinite(deadline) ? deadline : Number.POSITIVE_INFINITY;
}
