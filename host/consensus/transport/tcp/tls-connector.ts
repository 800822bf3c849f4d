import { type ConnectionOptions, connect, createServer, type TLSSocket } from "node:tls";
import { replicaIdsIn } from "../peer-identity.js";
import { type Connector, listenOn, settleConnect } from "./connector.js";

/** PEM bytes of the cluster CA and of this node's certificate and key. */
export interface MutualTlsFiles {
  readonly ca: Uint8Array;
  readonly cert: Uint8Array;
  readonly key: Uint8Array;
}

/**
 * The node id a verified peer certificate names (subjectAltName URI
 * `urn:cartridge:replica:<node id>`), as the one-element identity list; an empty list (which the
 * handshake refuses) for an unverified certificate or one naming no node or several.
 */
function certifiedNodeIds(socket: TLSSocket): readonly string[] {
  if (!socket.authorized) {
    return [];
  }
  const ids = replicaIdsIn(socket.getPeerCertificate().subjectaltname);
  return ids.length === 1 ? ids : [];
}

/**
 * Mutual TLS between consensus peers (issue 12). Both ends present a certificate signed by the
 * cluster CA and check the other's (TLS 1.3 only): TLS refuses a certificate from another CA, or
 * none, before any byte of the protocol. The dialer checks, before sending anything, that the
 * listener's certificate names the node it meant to reach (instead of a host name: peers are
 * named by node id, and one host may run several). The listener reports the node its client's
 * certificate names as `peerIdentity`, and the transport's handshake refuses a peer claiming
 * another replica (`IdentityMismatch`) before any message reaches the core. Certificates come
 * from `cartridge certs init` or an operator's CA (docs/security.md).
 */
export function mutualTlsConnector(files: MutualTlsFiles): Connector {
  const secure = {
    ca: Buffer.from(files.ca),
    cert: Buffer.from(files.cert),
    key: Buffer.from(files.key),
    minVersion: "TLSv1.3" as const,
  };
  return {
    listen(address, onSocket) {
      const server = createServer(
        { ...secure, requestCert: true, rejectUnauthorized: true },
        (socket) => onSocket(socket),
      );
      // A failed TLS handshake (wrong CA, no certificate) is the peer's problem, not ours.
      server.on("tlsClientError", (_error, socket) => socket.destroy());
      return listenOn(server, address);
    },

    connect(address, expectedNodeId, timeoutMs, signal) {
      const options: ConnectionOptions = {
        ...secure,
        host: address.host,
        port: address.port,
        rejectUnauthorized: true,
        checkServerIdentity: (_host, certificate) =>
          replicaIdsIn(certificate.subjectaltname).includes(expectedNodeId)
            ? undefined
            : new Error(`the peer's certificate does not name node ${expectedNodeId.slice(0, 64)}`),
      };
      return settleConnect(connect(options), "secureConnect", address, timeoutMs, signal);
    },

    peerIdentity(socket) {
      return "getPeerCertificate" in socket ? certifiedNodeIds(socket as TLSSocket) : [];
    },
  };
}
