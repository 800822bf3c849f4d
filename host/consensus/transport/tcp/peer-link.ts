import type { Socket } from "node:net";
import type { Member } from "../../core/config.js";
import type { Message } from "../../core/messages.js";
import { type ControlFrame, encodeControl } from "../../wire/control.js";
import { WireEncodeError } from "../../wire/errors.js";
import type { WireLimits } from "../../wire/limits.js";
import { encodeMessage } from "../../wire/message-codec.js";
import { WireWriter } from "../../wire/writer.js";
import type { Backoff } from "./backoff.js";
import type { PeerAddress } from "./connector.js";
import { emptyPeerStats, type PeerStats } from "./stats.js";

/** How a link encodes and bounds what it queues. */
export interface LinkSettings {
  readonly clusterTag: number;
  readonly limits: WireLimits;
  readonly maxQueuedBytes: number;
  readonly maxQueuedFrames: number;
}

/**
 * This node's side of its relation with one peer: the bounded send queue, the one open
 * connection (if any), redial state and counters. Messages are encoded straight into the queue's
 * buffer; everything queued in one event-loop turn is written with a single `socket.write` at
 * the next `setImmediate` (batching: one syscall for many frames).
 */
export class PeerLink {
  readonly member: Member;
  /** True if this node dials the peer (its replica id is lower). */
  readonly dials: boolean;
  address: PeerAddress | undefined;
  readonly stats: PeerStats = emptyPeerStats();
  readonly backoff: Backoff;
  /** A dial or an outbound handshake is in progress. */
  dialing = false;
  redialTimer: NodeJS.Timeout | undefined;
  private socket: Socket | undefined;
  private readonly out = new WireWriter();
  private readonly settings: LinkSettings;
  private flushScheduled = false;
  private awaitingDrain = false;
  private pingSequence = 0;
  /** When bytes last arrived on the connection (`performance.now()`), for the idle check. */
  private lastReceivedMs = 0;
  private barriers: { sequence: number; resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(member: Member, dials: boolean, backoff: Backoff, settings: LinkSettings) {
    this.member = member;
    this.dials = dials;
    this.backoff = backoff;
    this.settings = settings;
  }

  get id(): number {
    return this.member.replicaId;
  }

  isConnected(): boolean {
    return this.socket !== undefined;
  }

  /** The bytes waiting in this link's queue and in the socket's own buffer. */
  private queuedBytes(): number {
    return this.out.length + (this.socket?.writableLength ?? 0);
  }

  /** Encodes `message` into the queue, or drops it (full queue, unencodable) and counts why. */
  enqueue(message: Message): void {
    if (!this.admit()) {
      return;
    }
    try {
      encodeMessage(this.out, message, this.settings.clusterTag, this.settings.limits);
    } catch (error) {
      if (error instanceof WireEncodeError) {
        this.stats.droppedUnencodable += 1;
        return;
      }
      throw error;
    }
    this.queued();
  }

  /** Queues a control frame (ping, pong) behind the messages already queued. */
  enqueueControl(frame: ControlFrame): void {
    if (!this.admit()) {
      return;
    }
    encodeControl(this.out, frame, this.settings.clusterTag);
    this.queued();
  }

  private admit(): boolean {
    if (
      this.stats.queuedFrames >= this.settings.maxQueuedFrames ||
      this.queuedBytes() >= this.settings.maxQueuedBytes
    ) {
      this.stats.droppedQueueFull += 1;
      return false;
    }
    return true;
  }

  private queued(): void {
    this.stats.queuedFrames += 1;
    this.stats.queuedBytes = this.out.length;
    this.scheduleFlush();
  }

  /**
   * Resolves once the peer has processed everything queued before this call: a ping travels
   * behind it on the same ordered stream and the pong comes back (a message lost with a broken
   * connection counts as processed: the ping is re-sent on the next connection). Waits as long
   * as the peer is unreachable; rejects when the transport closes. For tests and diagnostics.
   */
  barrier(): Promise<void> {
    // Sequence 0 is the keepalive ping's; barriers use 1..2^32-1.
    this.pingSequence = (this.pingSequence + 1) >>> 0 || 1;
    const sequence = this.pingSequence;
    return new Promise((resolve, reject) => {
      this.barriers.push({ sequence, resolve, reject });
      this.enqueueControl({ kind: "ping", sequence });
    });
  }

  /** A pong arrived: every barrier up to `sequence` is passed. */
  pong(sequence: number): void {
    const passed = this.barriers.filter((barrier) => barrier.sequence <= sequence);
    this.barriers = this.barriers.filter((barrier) => barrier.sequence > sequence);
    for (const barrier of passed) {
      barrier.resolve();
    }
  }

  /** Bytes arrived from the peer on the open connection. */
  received(bytes: number): void {
    this.stats.bytesReceived += bytes;
    this.lastReceivedMs = performance.now();
  }

  /**
   * Called every keepalive interval: pings the peer so that a healthy connection always carries
   * traffic, and closes a connection that carried nothing for `idleTimeoutMs` (a peer host that
   * vanished without a FIN; TCP alone would keep writing into it for many minutes). Returns
   * whether it closed the connection.
   */
  keepalive(idleTimeoutMs: number): boolean {
    const socket = this.socket;
    if (socket === undefined) {
      return false;
    }
    if (performance.now() - this.lastReceivedMs > idleTimeoutMs) {
      socket.destroy();
      return true;
    }
    this.enqueueControl({ kind: "ping", sequence: 0 });
    return false;
  }

  /** Makes `socket` the link's connection (closing any previous one) and sends the queue. */
  attach(socket: Socket): void {
    this.socket?.destroy();
    this.socket = socket;
    this.lastReceivedMs = performance.now();
    this.awaitingDrain = false;
    this.dialing = false;
    this.backoff.reset();
    this.stats.connected = true;
    this.stats.connects += 1;
    if (this.stats.connects > 1) {
      this.stats.reconnects += 1;
    }
    const last = this.barriers.at(-1);
    if (last !== undefined) {
      // Its ping may have died with the previous connection: send it again on this one.
      this.enqueueControl({ kind: "ping", sequence: last.sequence });
    }
    this.scheduleFlush();
  }

  /** Forgets `socket` if it is the link's connection; returns whether it was. */
  detach(socket: Socket): boolean {
    if (this.socket !== socket) {
      return false;
    }
    this.socket = undefined;
    this.stats.connected = false;
    return true;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.socket === undefined || this.awaitingDrain) {
      return;
    }
    this.flushScheduled = true;
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const socket = this.socket;
    if (socket === undefined || this.out.length === 0) {
      return;
    }
    if (socket.writableLength >= this.settings.maxQueuedBytes) {
      // The peer is not reading (paused, or a slow link): keep the queue, bounded, until it drains.
      this.awaitingDrain = true;
      socket.once("drain", () => {
        this.awaitingDrain = false;
        if (this.socket === socket) {
          this.scheduleFlush();
        }
      });
      return;
    }
    const chunk = Buffer.allocUnsafe(this.out.length);
    this.out.bytes().copy(chunk);
    socket.write(chunk);
    this.stats.bytesSent += chunk.byteLength;
    this.stats.framesSent += this.stats.queuedFrames;
    this.stats.queuedFrames = 0;
    this.stats.queuedBytes = 0;
    this.out.reset();
  };

  /** Closes the connection and fails pending barriers; the link is not used again. */
  close(): void {
    clearTimeout(this.redialTimer);
    this.redialTimer = undefined;
    this.socket?.destroy();
    this.socket = undefined;
    this.stats.connected = false;
    const barriers = this.barriers;
    this.barriers = [];
    for (const barrier of barriers) {
      barrier.reject(new Error("transport closed"));
    }
  }
}
