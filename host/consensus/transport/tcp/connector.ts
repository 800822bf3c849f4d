import { createServer, connect as netConnect, type Socket } from "node:net";

/** A host and TCP port. */
export interface PeerAddress {
  readonly host: string;
  readonly port: number;
}

/** A listening endpoint; `close()` stops accepting (open sockets are the transport's to close). */
export interface Listener {
  readonly address: PeerAddress;
  close(): void;
}

/**
 * Opens the byte streams the TCP transport runs on; the seam where transport security plugs in.
 *
 * Contract:
 * - `listen` hands every accepted stream to `onSocket` once it is ready for application data.
 * - `connect` resolves with a stream ready for application data, or rejects (refused, timed out,
 *   failed authentication); it never resolves with a half-open stream.
 * - `peerIdentity` is the identity the connector *authenticated* for the remote end, or
 *   `undefined` when it authenticates nobody. The transport's handshake then requires it to equal
 *   the node id of the replica the peer claims to be, and refuses the connection otherwise.
 *
 * {@link plainConnector} is `node:net` and authenticates nobody (loopback, trusted networks). A
 * mutual-TLS connector (issue 12) implements the same three calls with `node:tls`: `listen` with
 * `tls.createServer({ ca, cert, key, requestCert: true, rejectUnauthorized: true })` delivering
 * `secureConnection` sockets; `connect` with `tls.connect({ ca, cert, key, checkServerIdentity })`
 * checking that the server certificate names `expectedNodeId`, resolving on `secureConnect`;
 * `peerIdentity` returning the name in the verified peer certificate. Nothing else changes.
 */
export interface Connector {
  listen(address: PeerAddress, onSocket: (socket: Socket) => void): Promise<Listener>;
  connect(address: PeerAddress, expectedNodeId: string, timeoutMs: number): Promise<Socket>;
  peerIdentity(socket: Socket): string | undefined;
}

/** Plain TCP: no encryption, no authentication beyond the handshake's cluster and replica ids. */
export const plainConnector: Connector = {
  listen(address, onSocket) {
    return new Promise((resolve, reject) => {
      const server = createServer({ noDelay: true }, onSocket);
      server.once("error", reject);
      server.listen(address.port, address.host, () => {
        server.off("error", reject);
        // Errors after listening (EMFILE on accept) must not crash the process; accept goes on.
        server.on("error", () => undefined);
        const bound = server.address();
        const port = typeof bound === "object" && bound !== null ? bound.port : address.port;
        resolve({ address: { host: address.host, port }, close: () => server.close() });
      });
    });
  },

  connect(address, _expectedNodeId, timeoutMs) {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: address.host, port: address.port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${address.host}:${address.port} timed out`));
      }, timeoutMs);
      socket.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        resolve(socket);
      });
    });
  },

  peerIdentity() {
    return undefined;
  },
};
