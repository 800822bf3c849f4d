import type { Socket } from "node:net";
import { type ConnectionOptions, connect, createServer, type TLSSocket } from "node:tls";
import { replicaIdsIn } from "../peer-identity.js";
import type { Connector } from "./connector.js";

/** PEM bytes of the cluster CA and of this node's certificate and key. */
export interface MutualTlsFiles {
  readonly ca: Uint8Array;
  readonly cert: Uint8Array;
  readonly key: Uint8Array;
}

/**
 * What the transport gets for a peer whose verified certificate names no replica (or several):
 * a value no node id can equal, so that the handshake refuses it.
 */
const NO_REPLICA = "\u0000no replica id in the certificate";

/** The node id a verified peer certificate names (subjectAltName URI), or {@link NO_REPLICA}. */
function certifiedNodeId(socket: TLSSocket): string {
  if (!socket.authorized) return NO_REPLICA;
  const ids = replicaIdsIn(socket.getPeerCertificate().subjectaltname);
  return ids.length === 1 && ids[0] !== undefined ? ids[0] : NO_REPLICA;
}

/**
 * Mutual TLS between consensus peers (issue 12). Both ends present a certificate signed by the
 * cluster CA and check the other's: TLS refuses a certificate from another CA before any byte of
 * the protocol, and the transport's handshake then refuses a peer whose certificate names another
 * node than the one it claims to be (`peerIdentity`), before any message reaches the core. The
 * dialer also checks, before sending anything, that the server's certificate names the node it
 * meant to reach. Certificates come from `cartridge certs init` or an operator's CA
 * (docs/security.md).
 */
export function mutualTlsConnector(files: MutualTlsFiles): Connector {
  const secure = {
    ca: Buffer.from(files.ca),
    cert: Buffer.from(files.cert),
    key: Buffer.from(files.key),
  };
  return {
    listen(address, onSocket) {
      return new Promise((resolve, reject) => {
        const server = createServer(
          { ...secure, requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.3" },
          (socket) => {
            socket.setNoDelay(true);
            onSocket(socket);
          },
        );
        server.once("error", reject);
        // A failed TLS handshake (wrong CA, no certificate) is the peer's problem, not ours.
        server.on("tlsClientError", (_error, socket) => socket.destroy());
        server.listen(address.port, address.host, () => {
          server.off("error", reject);
          server.on("error", () => undefined);
          const bound = server.address();
          const port = typeof bound === "object" && bound !== null ? bound.port : address.port;
          resolve({ address: { host: address.host, port }, close: () => server.close() });
        });
      });
    },

    connect(address, expectedNodeId, timeoutMs) {
      return new Promise((resolve, reject) => {
        const options: ConnectionOptions = {
          ...secure,
          host: address.host,
          port: address.port,
          minVersion: "TLSv1.3",
          rejectUnauthorized: true,
          // Peers are named by node id, not by host name: the certificate must name the node
          // this connection is meant to reach, whatever address it was reached at.
          checkServerIdentity: (_host, cert) =>
            replicaIdsIn(cert.subjectaltname).includes(expectedNodeId)
              ? undefined
              : new Error(
                  `the peer's certificate does not name node ${expectedNodeId.slice(0, 64)}`,
                ),
        };
        const socket = connect(options);
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new Error(`TLS connect to ${address.host}:${address.port} timed out`));
        }, timeoutMs);
        socket.once("error", (error) => {
          clearTimeout(timer);
          reject(error);
        });
        socket.once("secureConnect", () => {
          clearTimeout(timer);
          socket.removeAllListeners("error");
          socket.setNoDelay(true);
          resolve(socket);
        });
      });
    },

    peerIdentity(socket: Socket) {
      return "getPeerCertificate" in socket ? certifiedNodeId(socket as TLSSocket) : NO_REPLICA;
    },
  };
}
