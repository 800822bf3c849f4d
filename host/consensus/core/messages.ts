import type { Ballot } from "./ballot.js";
import type { Entry } from "./entry.js";

/**
 * Messages exchanged by replicas. Every message names its sender and receiver by numeric replica
 * id and carries a ballot, whose meaning is given per message. Transports may lose, duplicate,
 * delay and reorder messages; the protocol tolerates all of that.
 */
export type Message =
  | PreVoteMessage
  | PreVoteReplyMessage
  | PrepareMessage
  | PromiseMessage
  | AcceptMessage
  | AcceptedMessage
  | AcceptGapMessage
  | HeartbeatMessage
  | StatusMessage
  | LearnMessage
  | InstallSnapshotMessage
  | SnapshotAckMessage
  | NackMessage;

interface Addressed {
  readonly from: number;
  readonly to: number;
}

/** Asks whether the receiver would promise `ballot`; changes no state (the pre-vote guard). */
export interface PreVoteMessage extends Addressed {
  readonly type: "preVote";
  readonly ballot: Ballot;
  readonly commitIndex: number;
}

/** Answer to a pre-vote for `ballot`. */
export interface PreVoteReplyMessage extends Addressed {
  readonly type: "preVoteReply";
  readonly ballot: Ballot;
  readonly granted: boolean;
}

/**
 * Phase 1a for every slot at or above `fromIndex`. The promise is global (all slots); only the
 * reported entries are chunked, so a candidate may send several prepares with the same ballot.
 */
export interface PrepareMessage extends Addressed {
  readonly type: "prepare";
  readonly ballot: Ballot;
  readonly fromIndex: number;
  readonly commitIndex: number;
}

/**
 * Phase 1b: the acceptor promised `ballot` and reports what it accepted from `fromIndex` on.
 * `entries` is contiguous from `fromIndex`; `lastIndex` tells whether more remain. Entries at or
 * below `commitIndex` are known chosen.
 */
export interface PromiseMessage extends Addressed {
  readonly type: "promise";
  readonly ballot: Ballot;
  readonly fromIndex: number;
  readonly entries: readonly Entry[];
  readonly lastIndex: number;
  readonly commitIndex: number;
}

/** Phase 2a for a contiguous range of slots; the entries' own ballots are ignored. */
export interface AcceptMessage extends Addressed {
  readonly type: "accept";
  readonly ballot: Ballot;
  readonly entries: readonly Entry[];
  readonly commitIndex: number;
}

/** Phase 2b: slots `fromIndex..toIndex` were accepted at `ballot` and are durable. */
export interface AcceptedMessage extends Addressed {
  readonly type: "accepted";
  readonly ballot: Ballot;
  readonly fromIndex: number;
  readonly toIndex: number;
  readonly commitIndex: number;
  readonly lastIndex: number;
}

/** The acceptor could not accept because its log ends before the range starts. */
export interface AcceptGapMessage extends Addressed {
  readonly type: "acceptGap";
  readonly ballot: Ballot;
  readonly commitIndex: number;
  readonly lastIndex: number;
}

/** Leader liveness and commit-index notification. */
export interface HeartbeatMessage extends Addressed {
  readonly type: "heartbeat";
  readonly ballot: Ballot;
  readonly commitIndex: number;
}

/** A replica's progress, sent in answer to heartbeats, learns and snapshots. */
export interface StatusMessage extends Addressed {
  readonly type: "status";
  readonly ballot: Ballot;
  readonly commitIndex: number;
  readonly lastIndex: number;
}

/** Chosen values, contiguous, sent to a replica whose commit index lags (catch-up). */
export interface LearnMessage extends Addressed {
  readonly type: "learn";
  readonly ballot: Ballot;
  readonly entries: readonly Entry[];
}

/**
 * One chunk of a snapshot of chosen state, for a replica that lags behind the sender's compacted
 * log. A snapshot travels as chunks of at most `snapshotChunkBytes`, one at a time: the sender
 * sends the next chunk when the receiver acknowledges the previous one ({@link SnapshotAckMessage})
 * and resends the unacknowledged one after `snapshotRetransmitTicks`. Every chunk of one snapshot
 * repeats `index`, `snapshotBallot`, `totalBytes` and `checksum`, so the receiver can tell chunks
 * of two different snapshots apart; it installs the snapshot only once all `totalBytes` arrived in
 * order and their CRC-32 equals `checksum`.
 */
export interface InstallSnapshotMessage extends Addressed {
  readonly type: "installSnapshot";
  /** The sender's leader ballot, or its promised ballot when it answers a lagging candidate. */
  readonly ballot: Ballot;
  /** The last slot the snapshot covers (`Snapshot.index`). */
  readonly index: number;
  /** The ballot recorded with the snapshot (`Snapshot.ballot`). */
  readonly snapshotBallot: Ballot;
  /** The size of the whole snapshot; at most the receiver's `maxSnapshotBytes`. */
  readonly totalBytes: number;
  /** CRC-32 (IEEE) of the whole snapshot's bytes, an unsigned 32-bit integer. */
  readonly checksum: number;
  /** Where `data` starts in the snapshot. */
  readonly offset: number;
  /** Bytes `offset .. offset + data.byteLength` of the snapshot. */
  readonly data: Uint8Array;
  /** True exactly when this chunk ends the snapshot (`offset + data.byteLength === totalBytes`). */
  readonly last: boolean;
}

/**
 * The receiver of snapshot chunks holds bytes `0 .. offset` of the snapshot at `index` (`offset`
 * equals the total once it installed it). Sent for every chunk, duplicates and out-of-order ones
 * included, so the sender always learns where to continue. `ballot` echoes the chunk's ballot.
 */
export interface SnapshotAckMessage extends Addressed {
  readonly type: "snapshotAck";
  readonly ballot: Ballot;
  readonly index: number;
  readonly offset: number;
}

/** Rejection: the sender has promised `ballot`, which is higher than the one it was offered. */
export interface NackMessage extends Addressed {
  readonly type: "nack";
  readonly ballot: Ballot;
}
