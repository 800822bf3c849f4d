import { type ChannelCredentials, credentials, type Metadata } from "@grpc/grpc-js";

/**
 * How a client proves who it is and checks whom it talks to, as gRPC users expect to pass it:
 * a bearer token (sent as `authorization: Bearer <token>` on every call), and TLS with a CA to
 * trust and, for servers that require one, a client certificate and key (PEM bytes).
 */
export interface ClientCredentialsOptions {
  /** Bearer token from `cartridge tokens add`. */
  readonly token?: string | undefined;
  /** TLS; without it the channel is plaintext (fine on loopback). */
  readonly tls?:
    | {
        /** CA certificate(s) to trust; the system's roots when omitted. */
        readonly ca?: Uint8Array | undefined;
        /** Client certificate chain and key, for servers started with --tls-client-ca. */
        readonly cert?: Uint8Array | undefined;
        readonly key?: Uint8Array | undefined;
      }
    | undefined;
}

function buffer(bytes: Uint8Array | undefined): Buffer | null {
  return bytes === undefined ? null : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Channel credentials for `options.tls` (plaintext without). */
export function channelCredentials(options: ClientCredentialsOptions): ChannelCredentials {
  const tls = options.tls;
  if (tls === undefined) return credentials.createInsecure();
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new Error("a client certificate needs its key, and a key its certificate");
  }
  return credentials.createSsl(buffer(tls.ca), buffer(tls.key), buffer(tls.cert));
}

/** Adds the bearer token, if any, to a call's metadata. */
export function addToken(metadata: Metadata, options: ClientCredentialsOptions): void {
  if (options.token !== undefined) metadata.set("authorization", `Bearer ${options.token}`);
}
