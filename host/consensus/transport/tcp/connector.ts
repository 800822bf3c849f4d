import { createServer, connect as netConnect, type Server, type Socket } from "node:net";

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
 *   failed authentication, `signal` aborted: the transport closed); it never resolves with a
 *   half-open stream, and an aborted attempt leaves no socket or timer behind.
 * - `peerIdentity` is the node ids the connector *authenticated* for the remote end (the names
 *   in its verified certificate), or `undefined` when it authenticates nobody. The transport's
 *   handshake then requires the node id of the replica the peer claims to be among them, and
 *   refuses the connection otherwise.
 *
 * {@link plainConnector} is `node:net` and authenticates nobody (loopback, trusted networks);
 * `mutualTlsConnector` (`tls-connector.ts`) is mutual TLS with the cluster's CA.
 */
export interface Connector {
  listen(address: PeerAddress, onSocket: (socket: Socket) => void): Promise<Listener>;
  connect(
    address: PeerAddress,
    expectedNodeId: string,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<Socket>;
  peerIdentity(socket: Socket): readonly string[] | undefined;
}

/**
 * Starts `server` (plain or TLS) on `address` and resolves with the port it bound; rejects if it
 * cannot listen.
 */
export function listenOn(server: Server, address: PeerAddress): Promise<Listener> {
  return new Promise((resolve, reject) => {
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
}

/** Plain TCP: no encryption, no authentication beyond the handshake's cluster and replica ids. */
export const plainConnector: Connector = {
  listen(address, onSocket) {
    return listenOn(createServer({ noDelay: true }, onSocket), address);
  },

  connect(address, _expectedNodeId, timeoutMs, signal) {
    const socket = netConnect({ host: address.host, port: address.port, noDelay: true });
    return settleConnect(socket, "connect", address, timeoutMs, signal);
  },

  peerIdentity() {
    return undefined;
  },
};

/**
 * Resolves with `socket` once it emits `readyEvent`; on an error, the timeout or `signal`, destroys
 * it and rejects. Shared by the plain and TLS connectors.
 */
export function settleConnect<S extends Socket>(
  socket: S,
  readyEvent: "connect" | "secureConnect",
  address: PeerAddress,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<S> {
  return new Promise((resolve, reject) => {
    const fail = (error: Error): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", abort);
      socket.destroy();
      reject(error);
    };
    const abort = (): void => fail(new Error("transport closed"));
    const timer = setTimeout(
      () => fail(new Error(`connect to ${address.host}:${address.port} timed out`)),
      timeoutMs,
    );
    if (signal.aborted) {
      abort();
      return;
    }
    signal.addEventListener("abort", abort, { once: true });
    socket.once("error", fail);
    socket.once(readyEvent, () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", abort);
      socket.off("error", fail);
      resolve(socket);
    });
  });
}
