import type { Socket } from "node:net";
import type { Message } from "../../core/messages.js";
import {
  type ControlFrame,
  decodeControl,
  decodeHandshake,
  encodeControl,
  isControlType,
} from "../../wire/control.js";
import { WireDecodeError, type WireDecodeErrorCode } from "../../wire/errors.js";
import {
  FRAME_HEADER_BYTES,
  MAX_HANDSHAKE_FRAME_BYTES,
  type WireLimits,
} from "../../wire/limits.js";
import { decodeMessage } from "../../wire/message-codec.js";
import { WireWriter } from "../../wire/writer.js";
import type { Connector } from "./connector.js";
import { FrameReader } from "./frame-reader.js";
import { checkHello, checkWelcome, type HandshakeIdentity, type Refusal } from "./handshake.js";
import type { PeerLink } from "./peer-link.js";

/** Structured logging the transport needs; a pino logger satisfies it. */
export interface TransportLogger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

/** What a connection needs from its transport. */
export interface ConnectionContext {
  readonly identity: HandshakeIdentity;
  readonly clusterTag: number;
  readonly limits: WireLimits;
  readonly connector: Connector;
  readonly logger: TransportLogger;
  readonly handshakeTimeoutMs: number;
  /** The link of a peer that passed `checkHello` (so it exists). */
  link(replicaId: number): PeerLink;
  /** Hands a checked message to the core. */
  deliver(message: Message): void;
  /** An inbound connection was refused before its peer was known. */
  refusedInbound(): void;
  /** The handshake passed or the socket closed before it did (called once per connection). */
  handshakeSettled(connection: Connection): void;
  /** The socket closed (after or during the handshake). */
  closed(connection: Connection): void;
}

/** Rejections logged per connection before logging is sampled (one in 1000). */
const LOGGED_REJECTIONS = 10;
/** A refused peer that does not close its side is cut off after this long. */
const REFUSE_LINGER_MS = 1_000;

/**
 * One socket, from the handshake to its close. As dialer (`dialed` is the link it was opened
 * for) it sends `hello` and waits for `welcome`; as acceptor it waits for `hello`. Before the
 * handshake passed, frames above 1 KiB or of any other kind refuse the connection and nothing is
 * delivered. After it, message frames are decoded and checked against the handshaked peer.
 */
export class Connection {
  readonly socket: Socket;
  /** The link whose handshake passed on this connection. */
  link: PeerLink | undefined;
  readonly dialed: PeerLink | undefined;
  private readonly context: ConnectionContext;
  private readonly reader = new FrameReader(MAX_HANDSHAKE_FRAME_BYTES);
  private readonly timer: NodeJS.Timeout;
  private done = false;
  private rejections = 0;

  constructor(context: ConnectionContext, socket: Socket, dialed: PeerLink | undefined) {
    this.context = context;
    this.socket = socket;
    this.dialed = dialed;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 5_000);
    this.timer = setTimeout(
      () => this.refuse({ code: "Malformed", reason: "handshake timed out" }),
      context.handshakeTimeoutMs,
    );
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (error) => {
      const peer = this.peerId();
      context.logger.debug({ peer, error: error.message }, "consensus socket error");
    });
    socket.on("close", () => {
      this.done = true;
      clearTimeout(this.timer);
      if (this.link === undefined) {
        context.handshakeSettled(this);
      }
      context.closed(this);
    });
    if (dialed !== undefined) {
      const { clusterId, replicaId } = context.identity;
      this.writeControl({ kind: "hello", clusterId, from: replicaId, to: dialed.id });
    }
  }

  private peerId(): number | undefined {
    return this.link?.id ?? this.dialed?.id;
  }

  private writeControl(frame: ControlFrame, end = false): void {
    const writer = new WireWriter(256);
    encodeControl(writer, frame, this.context.clusterTag);
    if (end) {
      this.socket.end(writer.bytes());
    } else {
      this.socket.write(writer.bytes());
    }
  }

  private onData(chunk: Buffer): void {
    if (this.link !== undefined) {
      this.link.received(chunk.byteLength);
    }
    const oversized = this.reader.push(chunk, this.onFrame);
    if (oversized === undefined || this.done) {
      return;
    }
    if (this.link === undefined) {
      this.refuse({
        code: "Malformed",
        reason: `frame of ${oversized} bytes before the handshake`,
      });
      return;
    }
    this.count("LimitExceeded");
    this.context.logger.warn(
      {
        peer: this.link.id,
        frameBytes: oversized,
        maxFrameBytes: this.context.limits.maxFrameBytes,
      },
      "consensus peer sent an oversized frame; disconnecting",
    );
    this.done = true;
    this.socket.destroy();
  }

  private readonly onFrame = (frame: Uint8Array): boolean => {
    if (this.done) {
      return false;
    }
    const link = this.link;
    if (link === undefined) {
      return this.onHandshakeFrame(frame);
    }
    link.stats.framesReceived += 1;
    const type = frame[FRAME_HEADER_BYTES - 1];
    if (frame.byteLength >= FRAME_HEADER_BYTES && type !== undefined && isControlType(type)) {
      return this.onControlFrame(link, frame);
    }
    let message: Message;
    try {
      message = decodeMessage(frame, this.context.clusterTag, this.context.limits);
    } catch (error) {
      this.rejected(error);
      return true;
    }
    if (message.from !== link.id || message.to !== this.context.identity.replicaId) {
      link.stats.droppedMisaddressed += 1;
      return true;
    }
    this.context.deliver(message);
    return !this.done;
  };

  private onHandshakeFrame(frame: Uint8Array): boolean {
    let control: ControlFrame;
    try {
      control = decodeHandshake(frame);
    } catch (error) {
      const version = error instanceof WireDecodeError && error.code === "UnsupportedVersion";
      this.refuse({ code: version ? "UnsupportedVersion" : "Malformed", reason: String(error) });
      return false;
    }
    if (control.kind === "refuse") {
      this.refused(control.code, control.reason);
      return false;
    }
    const refusal = this.check(control);
    if (refusal !== undefined) {
      this.refuse(refusal);
      return false;
    }
    clearTimeout(this.timer);
    this.context.handshakeSettled(this);
    this.reader.maxFrameBytes = this.context.limits.maxFrameBytes;
    const link = this.link as PeerLink;
    if (this.dialed === undefined) {
      const { clusterId, replicaId } = this.context.identity;
      this.writeControl({ kind: "welcome", clusterId, replicaId });
    }
    link.attach(this.socket);
    this.context.logger.info(
      { peer: link.id, remote: remoteOf(this.socket) },
      "consensus peer connected",
    );
    return true;
  }

  /** Checks the first frame of the handshake; sets `link` when it passes. */
  private check(control: ControlFrame): Refusal | undefined {
    const identity = this.context.connector.peerIdentity(this.socket);
    if (this.dialed !== undefined) {
      if (control.kind !== "welcome") {
        return { code: "Malformed", reason: `expected welcome, got ${control.kind}` };
      }
      const refusal = checkWelcome(this.context.identity, this.dialed.member, control, identity);
      this.link = refusal === undefined ? this.dialed : undefined;
      return refusal;
    }
    if (control.kind !== "hello") {
      return { code: "Malformed", reason: `expected hello, got ${control.kind}` };
    }
    const refusal = checkHello(this.context.identity, control, identity);
    this.link = refusal === undefined ? this.context.link(control.from) : undefined;
    return refusal;
  }

  private onControlFrame(link: PeerLink, frame: Uint8Array): boolean {
    let control: ControlFrame;
    try {
      control = decodeControl(frame, this.context.limits);
    } catch (error) {
      this.rejected(error);
      return true;
    }
    switch (control.kind) {
      case "ping":
        link.enqueueControl({ kind: "pong", sequence: control.sequence });
        return true;
      case "pong":
        link.pong(control.sequence);
        return true;
      case "refuse":
        this.refused(control.code, control.reason);
        return false;
      default:
        this.rejected(new WireDecodeError("UnknownType", `${control.kind} after the handshake`));
        return true;
    }
  }

  /** Refuses the peer: logs why, tells it why, and closes. */
  private refuse(refusal: Refusal): void {
    if (this.done) {
      return;
    }
    this.done = true;
    this.countRefusal();
    this.context.logger.warn(
      {
        peer: this.peerId(),
        remote: remoteOf(this.socket),
        code: refusal.code,
        reason: refusal.reason,
      },
      "consensus connection refused",
    );
    this.writeControl({ kind: "refuse", ...refusal }, true);
    setTimeout(() => this.socket.destroy(), REFUSE_LINGER_MS).unref();
  }

  /** The peer refused this node. */
  private refused(code: string, reason: string): void {
    this.done = true;
    this.countRefusal();
    this.context.logger.warn(
      { peer: this.peerId(), remote: remoteOf(this.socket), code, reason },
      "consensus peer refused this node",
    );
    this.socket.destroy();
  }

  private countRefusal(): void {
    const link = this.link ?? this.dialed;
    if (link !== undefined) {
      link.stats.handshakeRefusals += 1;
    } else {
      this.context.refusedInbound();
    }
  }

  private rejected(error: unknown): void {
    const code = error instanceof WireDecodeError ? error.code : "Internal";
    this.count(code);
    this.rejections += 1;
    if (this.rejections <= LOGGED_REJECTIONS || this.rejections % 1000 === 0) {
      this.context.logger.warn(
        { peer: this.peerId(), code, error: String(error).slice(0, 200), count: this.rejections },
        "consensus frame rejected",
      );
    }
  }

  private count(code: WireDecodeErrorCode): void {
    const link = this.link;
    if (link === undefined) {
      return;
    }
    link.stats.decodeRejections += 1;
    const byCode = link.stats.decodeRejectionsByCode;
    byCode[code] = (byCode[code] ?? 0) + 1;
  }
}

function remoteOf(socket: Socket): string {
  return `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
}
