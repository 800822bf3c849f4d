import {
  type ConnectionOptions,
  createServer,
  type TLSSocket,
  connect as tlsConnect,
} from "node:tls";
import { replicaIdsIn } from "../peer-identity.js";
import { type Connector, type Listener, type PeerAddress, settleConnect } from "./connector.js";

/** PEM material of one node: the cluster CA, and this node's certificate and key. */
export interface TlsConnectorOptions {
  readonly ca: string | Buffer;
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** Called when a TLS handshake with a connecting peer fails (bad or missing certificate). */
  readonly onHandshakeError?: (error: Error, remote: string) => void;
}

/**
 * Mutual TLS between replicas. Both sides present a certificate issued by the cluster's CA and
 * verify the other's (TLS 1.3 only). A certificate names its replica with the subjectAltName URI
 * `urn:cartridge:replica:<node id>` (`peer-identity.ts`; `cartridge certs init` writes it):
 *
 * - the dialer checks that the server's certificate names the node it meant to reach (instead of
 *   a host name: replicas are addressed by id, and one host may run several);
 * - the acceptor reports the names in the client's certificate as its `peerIdentity`, and the
 *   transport's handshake refuses a `hello` whose replica is not among them.
 *
 * A peer without a certificate, or with one from another CA, fails the TLS handshake and never
 * reaches the transport's handshake.
 */
export function tlsConnector(options: TlsConnectorOptions): Connector {
  const material = {
    ca: options.ca,
    cert: options.cert,
    key: options.key,
    minVersion: "TLSv1.3" as const,
  };
  return {
    listen(address, onSocket) {
      return new Promise<Listener>((resolve, reject) => {
        const server = createServer(
          { ...material, requestCert: true, rejectUnauthorized: true },
          (socket) => onSocket(socket),
        );
        server.on("tlsClientError", (error, socket) => {
          options.onHandshakeError?.(error, `${socket.remoteAddress}:${socket.remotePort}`);
        });
        server.once("error", reject);
        server.listen(address.port, address.host, () => {
          server.off("error", reject);
          server.on("error", () => undefined);
          const bound = server.address();
          const port = typeof bound === "object" && bound !== null ? bound.port : address.port;
          resolve({ address: { host: address.host, port }, close: () => server.close() });
        });
      });
    },

    connect(address: PeerAddress, expectedNodeId: string, timeoutMs: number, signal) {
      const connection: ConnectionOptions = {
        ...material,
        host: address.host,
        port: address.port,
        rejectUnauthorized: true,
        checkServerIdentity: (_host, certificate) => {
          const names = replicaIdsIn(certificate.subjectaltname);
          return names.includes(expectedNodeId)
            ? undefined
            : new Error(
                `server certificate names replicas [${names.join(", ")}], not ${expectedNodeId}`,
              );
        },
      };
      return settleConnect(tlsConnect(connection), "secureConnect", address, timeoutMs, signal);
    },

    peerIdentity(socket) {
      const certificate = (socket as TLSSocket).getPeerCertificate?.();
      return replicaIdsIn(certificate?.subjectaltname);
    },
  };
}
