import type { WireDecodeErrorCode } from "../../wire/errors.js";

/** Counters of one peer link, for metrics (bytes and frames per peer) and diagnosis. */
export interface PeerStats {
  /** Whether a handshaked connection to the peer is open now. */
  connected: boolean;
  bytesSent: number;
  framesSent: number;
  bytesReceived: number;
  framesReceived: number;
  /** Frames waiting in this node's queue for the peer, and their bytes (gauges). */
  queuedFrames: number;
  queuedBytes: number;
  /** Messages dropped because the peer's send queue was full. */
  droppedQueueFull: number;
  /** Messages this node could not encode (a field outside its domain, too large a frame). */
  droppedUnencodable: number;
  /** Decoded messages whose `from` was not the handshaked peer or whose `to` was not this node. */
  droppedMisaddressed: number;
  /** Frames from the peer refused by the decoder, in total and by code. */
  decodeRejections: number;
  decodeRejectionsByCode: Partial<Record<WireDecodeErrorCode, number>>;
  /** Handshakes completed, and those after the first (reconnections). */
  connects: number;
  reconnects: number;
  dialAttempts: number;
  dialFailures: number;
  /** Handshakes with this peer refused by either side. */
  handshakeRefusals: number;
}

/** Counters of the whole transport. */
export interface TcpTransportStats {
  readonly peers: Readonly<Record<number, Readonly<PeerStats>>>;
  /** Messages addressed to a replica that is not a peer (unknown id or this node itself). */
  readonly droppedUnknownPeer: number;
  /** Inbound connections refused before a peer was identified (bad hello, timeout, busy). */
  readonly refusedInbound: number;
}

export function emptyPeerStats(): PeerStats {
  return {
    connected: false,
    bytesSent: 0,
    framesSent: 0,
    bytesReceived: 0,
    framesReceived: 0,
    queuedFrames: 0,
    queuedBytes: 0,
    droppedQueueFull: 0,
    droppedUnencodable: 0,
    droppedMisaddressed: 0,
    decodeRejections: 0,
    decodeRejectionsByCode: {},
    connects: 0,
    reconnects: 0,
    dialAttempts: 0,
    dialFailures: 0,
    handshakeRefusals: 0,
  };
}
