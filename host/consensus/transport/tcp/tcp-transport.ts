import type { Socket } from "node:net";
import type { ClusterConfig } from "../../core/config.js";
import { invariant } from "../../core/errors.js";
import type { Message } from "../../core/messages.js";
import type { Rng } from "../../core/rng.js";
import { clusterTag, validateClusterId } from "../../wire/cluster-tag.js";
import { type WireLimits, wireLimits } from "../../wire/limits.js";
import type { Transport } from "../transport.js";
import { Backoff } from "./backoff.js";
import { Connection, type ConnectionContext, type TransportLogger } from "./connection.js";
import { type Connector, type Listener, type PeerAddress, plainConnector } from "./connector.js";
import type { HandshakeIdentity } from "./handshake.js";
import { PeerLink } from "./peer-link.js";
import type { PeerStats, TcpTransportStats } from "./stats.js";

export type { TransportLogger } from "./connection.js";

const silentLogger: TransportLogger = { debug() {}, info() {}, warn() {} };

export interface TcpTransportOptions {
  /** Names the cluster; a peer configured for another cluster is refused at the handshake. */
  readonly clusterId: string;
  /** This node's replica id; must be a member of `config`. */
  readonly replicaId: number;
  readonly config: ClusterConfig;
  /** Where to listen; port 0 picks a free port (read it back from `start()`). */
  readonly listen: PeerAddress;
  /** Peer addresses by replica id; more can be given later with `setPeerAddress`. */
  readonly peers?: ReadonlyMap<number, PeerAddress>;
  /** Jitter of the reconnect backoff. */
  readonly rng: Rng;
  readonly connector?: Connector;
  readonly limits?: Partial<WireLimits>;
  /** Per-peer send queue bounds; beyond either, messages are dropped and counted. */
  readonly maxQueuedBytesPerPeer?: number;
  readonly maxQueuedFramesPerPeer?: number;
  readonly reconnectInitialMs?: number;
  readonly reconnectMaxMs?: number;
  readonly connectTimeoutMs?: number;
  /** A connection that has not completed the handshake within this time is closed. */
  readonly handshakeTimeoutMs?: number;
  /** A ping goes to every connected peer this often. */
  readonly keepaliveIntervalMs?: number;
  /** A connection on which nothing arrived for this long is closed (and redialed). */
  readonly idleTimeoutMs?: number;
  /** Most inbound connections in the handshake at once; more are closed at once. */
  readonly maxPendingHandshakes?: number;
  readonly logger?: TransportLogger;
}

/** Defaults for a LAN cluster. */
export const TCP_TRANSPORT_DEFAULTS = {
  maxQueuedBytesPerPeer: 16 << 20,
  maxQueuedFramesPerPeer: 65_536,
  reconnectInitialMs: 50,
  reconnectMaxMs: 2_000,
  connectTimeoutMs: 2_000,
  handshakeTimeoutMs: 5_000,
  keepaliveIntervalMs: 1_000,
  idleTimeoutMs: 10_000,
  maxPendingHandshakes: 64,
} as const;

/**
 * The consensus {@link Transport} over TCP (or whatever streams the {@link Connector} opens).
 *
 * - One connection per pair of replicas, dialed by the lower replica id; the higher id waits to
 *   be dialed and queues meanwhile. No duplicate-connection tie-break is needed: a new
 *   handshaked connection from a peer replaces its old one (the peer restarted).
 * - Frames are length-prefixed (see `wire/frame.ts`); a length above the limit closes the
 *   connection before anything is buffered. Before the handshake only handshake frames of at most
 *   1 KiB are read.
 * - Handshake (`handshake.ts`): cluster id, replica ids, and the connector's authenticated
 *   identity are checked on both sides before any message reaches the core; refusals are logged
 *   with their reason on both sides.
 * - A decoded message whose `from` is not the handshaked peer, or whose `to` is not this node, is
 *   dropped. Frames the decoder refuses are dropped and counted; the connection stays up.
 * - Reconnects with exponential backoff and jitter from the injected rng. Every connected peer
 *   is pinged each `keepaliveIntervalMs`; a connection silent for `idleTimeoutMs` is closed.
 * - `close()` closes the listener, every socket and every timer.
 */
export class TcpTransport implements Transport {
  private readonly options: TcpTransportOptions;
  private readonly connector: Connector;
  private readonly limits: WireLimits;
  private readonly tag: number;
  private readonly identity: HandshakeIdentity;
  private readonly logger: TransportLogger;
  private readonly links = new Map<number, PeerLink>();
  private readonly sockets = new Set<Socket>();
  private readonly context: ConnectionContext;
  private handler: ((message: Message) => void) | undefined;
  private listener: Listener | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  /** Aborted by `close()`, cancelling dials in progress. */
  private readonly closing = new AbortController();
  private pendingHandshakes = 0;
  private closed = false;
  private droppedUnknownPeer = 0;
  private refusedInbound = 0;

  constructor(options: TcpTransportOptions) {
    validateClusterId(options.clusterId);
    const members = new Map(options.config.members.map((m) => [m.replicaId, m] as const));
    invariant(members.has(options.replicaId), `replica ${options.replicaId} is not a member`);
    this.options = options;
    this.connector = options.connector ?? plainConnector;
    this.limits = wireLimits(options.limits);
    this.tag = clusterTag(options.clusterId);
    this.identity = { clusterId: options.clusterId, replicaId: options.replicaId, members };
    this.logger = options.logger ?? silentLogger;
    const settings = {
      clusterTag: this.tag,
      limits: this.limits,
      maxQueuedBytes: this.setting("maxQueuedBytesPerPeer"),
      maxQueuedFrames: this.setting("maxQueuedFramesPerPeer"),
    };
    for (const member of members.values()) {
      if (member.replicaId === options.replicaId) {
        continue;
      }
      const backoff = new Backoff(
        this.setting("reconnectInitialMs"),
        this.setting("reconnectMaxMs"),
        options.rng,
      );
      const link = new PeerLink(member, options.replicaId < member.replicaId, backoff, settings);
      link.address = options.peers?.get(member.replicaId);
      this.links.set(member.replicaId, link);
    }
    this.context = {
      identity: this.identity,
      clusterTag: this.tag,
      limits: this.limits,
      connector: this.connector,
      logger: this.logger,
      handshakeTimeoutMs: this.setting("handshakeTimeoutMs"),
      link: (replicaId) => this.links.get(replicaId) as PeerLink,
      deliver: (message) => this.deliver(message),
      refusedInbound: () => {
        this.refusedInbound += 1;
      },
      handshakeSettled: (connection) => {
        if (connection.dialed === undefined) {
          this.pendingHandshakes -= 1;
        }
      },
      closed: (connection) => this.connectionClosed(connection),
    };
  }

  private setting<K extends keyof typeof TCP_TRANSPORT_DEFAULTS>(key: K): number {
    return this.options[key] ?? TCP_TRANSPORT_DEFAULTS[key];
  }

  /** Listens and starts dialing; resolves with the bound address (the real port for port 0). */
  async start(): Promise<PeerAddress> {
    invariant(this.listener === undefined && !this.closed, "a transport starts once");
    const listener = await this.connector.listen(this.options.listen, (s) => this.accept(s));
    if (this.closed) {
      listener.close();
      return listener.address;
    }
    this.listener = listener;
    for (const link of this.links.values()) {
      this.dial(link);
    }
    this.keepaliveTimer = setInterval(() => this.keepalive(), this.setting("keepaliveIntervalMs"));
    return listener.address;
  }

  /** Sets (or changes) where a peer listens; a link this node dials is dialed at once. */
  setPeerAddress(replicaId: number, address: PeerAddress): void {
    const link = this.links.get(replicaId);
    invariant(link !== undefined, `replica ${replicaId} is not a peer`);
    link.address = address;
    if (link.dials && !link.isConnected() && !link.dialing) {
      clearTimeout(link.redialTimer);
      link.redialTimer = undefined;
      link.backoff.reset();
      this.dial(link);
    }
  }

  send(message: Message): void {
    if (this.closed) {
      return;
    }
    invariant(
      message.from === this.options.replicaId,
      "messages must be sent from their own endpoint",
    );
    const link = this.links.get(message.to);
    if (link === undefined) {
      this.droppedUnknownPeer += 1;
      return;
    }
    link.enqueue(message);
  }

  onMessage(handler: (message: Message) => void): void {
    this.handler = handler;
  }

  /** Resolves when `replicaId` has processed everything sent to it before this call. */
  barrier(replicaId: number): Promise<void> {
    const link = this.links.get(replicaId);
    invariant(link !== undefined && !this.closed, `replica ${replicaId} is not a peer`);
    return link.barrier();
  }

  /** A snapshot of the counters, per peer and overall. */
  stats(): TcpTransportStats {
    const peers: Record<number, PeerStats> = {};
    for (const [id, link] of this.links) {
      peers[id] = {
        ...link.stats,
        decodeRejectionsByCode: { ...link.stats.decodeRejectionsByCode },
      };
    }
    return {
      peers,
      droppedUnknownPeer: this.droppedUnknownPeer,
      refusedInbound: this.refusedInbound,
    };
  }

  close(): void {
    if (this.closed) {
      return;
    }
    this.closed = true;
    this.handler = undefined;
    this.closing.abort();
    clearInterval(this.keepaliveTimer);
    this.listener?.close();
    for (const link of this.links.values()) {
      link.close();
    }
    for (const socket of this.sockets) {
      socket.destroy();
    }
    this.sockets.clear();
  }

  private keepalive(): void {
    const idleTimeoutMs = this.setting("idleTimeoutMs");
    for (const link of this.links.values()) {
      if (link.keepalive(idleTimeoutMs)) {
        this.logger.warn({ peer: link.id, idleTimeoutMs }, "consensus peer silent; reconnecting");
      }
    }
  }

  // ---------------------------------------------------------------- dialing

  private dial(link: PeerLink): void {
    const address = link.address;
    if (this.closed || !link.dials || link.dialing || link.isConnected() || address === undefined) {
      return;
    }
    link.dialing = true;
    link.stats.dialAttempts += 1;
    const timeoutMs = this.setting("connectTimeoutMs");
    this.connector.connect(address, link.member.nodeId, timeoutMs, this.closing.signal).then(
      (socket) => {
        if (this.closed) {
          socket.destroy();
          return;
        }
        this.open(socket, link);
      },
      (error: unknown) => {
        link.dialing = false;
        link.stats.dialFailures += 1;
        this.logger.debug({ peer: link.id, error: String(error) }, "consensus peer dial failed");
        this.scheduleRedial(link);
      },
    );
  }

  private scheduleRedial(link: PeerLink): void {
    if (this.closed || !link.dials || link.redialTimer !== undefined) {
      return;
    }
    link.redialTimer = setTimeout(() => {
      link.redialTimer = undefined;
      this.dial(link);
    }, link.backoff.nextDelayMs());
  }

  // ---------------------------------------------------------------- connections

  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    if (this.pendingHandshakes >= this.setting("maxPendingHandshakes")) {
      this.refusedInbound += 1;
      this.logger.warn({ remote: socket.remoteAddress }, "consensus connection refused: busy");
      socket.destroy();
      return;
    }
    this.pendingHandshakes += 1;
    this.open(socket, undefined);
  }

  private open(socket: Socket, dialed: PeerLink | undefined): void {
    this.sockets.add(socket);
    new Connection(this.context, socket, dialed);
  }

  private connectionClosed(connection: Connection): void {
    this.sockets.delete(connection.socket);
    const link = connection.link;
    if (link?.detach(connection.socket)) {
      this.logger.info({ peer: link.id }, "consensus peer disconnected");
    }
    const dialed = connection.dialed;
    if (dialed !== undefined) {
      dialed.dialing = false;
      this.scheduleRedial(dialed);
    }
  }

  private deliver(message: Message): void {
    const handler = this.handler;
    if (handler === undefined) {
      return;
    }
    try {
      handler(message);
    } catch (error) {
      // The core must not throw into a transport callback; if it does anyway, log it rather
      // than let the exception escape a socket event and take the process down.
      this.logger.warn(
        { peer: message.from, type: message.type, error: String(error) },
        "consensus message handler threw",
      );
    }
  }
}
