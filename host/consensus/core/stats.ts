/**
 * Why an inbound message was refused before it could change any state (see `validate.ts`).
 *
 * - `misaddressed`: addressed to another replica, or claims to come from the receiver itself.
 * - `notMember`: the sender is not a member of the receiver's cluster configuration.
 * - `unknownType`: not one of the protocol's message types.
 * - `malformed`: a field of the wrong kind (not an object, boolean, array or byte array where the
 *   message type requires one).
 * - `badBallot`: not a ballot number, or owned by a replica other than the one the message type
 *   requires (the sender for prepare, accept, heartbeat...; the receiver for replies), or by a
 *   non-member.
 * - `badIndex`: a slot index, commit index or byte offset that is not a non-negative safe integer
 *   or is inconsistent with the message's other indexes (a range whose start exceeds its end).
 * - `badEntries`: an entry list that is empty where entries are required, not contiguous, starts
 *   at slot 0 or where the message says it does not, or holds a malformed slot value.
 * - `tooLarge`: more entries or bytes than `maxEntriesPerMessage` / `maxMessageBytes`.
 * - `badSnapshotChunk`: a snapshot chunk whose offset, length, total and `last` flag disagree, or
 *   whose total exceeds `maxSnapshotBytes`.
 */
export type RejectReason =
  | "misaddressed"
  | "notMember"
  | "unknownType"
  | "malformed"
  | "badBallot"
  | "badIndex"
  | "badEntries"
  | "tooLarge"
  | "badSnapshotChunk";

/** Every {@link RejectReason}, in a stable order (for metrics). */
export const REJECT_REASONS: readonly RejectReason[] = [
  "misaddressed",
  "notMember",
  "unknownType",
  "malformed",
  "badBallot",
  "badIndex",
  "badEntries",
  "tooLarge",
  "badSnapshotChunk",
];

/**
 * Counters a replica keeps about its inputs, as plain numbers that only grow (the server layer
 * exports them as metrics). They are not persisted: a restart starts them at zero.
 */
export interface ReplicaStats {
  /** Inbound messages refused at the boundary, by reason. */
  readonly rejectedMessages: Readonly<Record<RejectReason, number>>;
  /** Snapshot chunks sent (first transmissions and retransmissions). */
  readonly snapshotChunksSent: number;
  /** Of those, chunks sent again because no acknowledgement came in time. */
  readonly snapshotChunksRetransmitted: number;
  /** Snapshots received from peers, reassembled, verified and installed. */
  readonly snapshotsInstalled: number;
  /** Reassembled snapshots discarded because their checksum did not match. */
  readonly snapshotsCorrupt: number;
}

/** The mutable form of {@link ReplicaStats} a replica updates. */
export type MutableReplicaStats = {
  -readonly [K in keyof ReplicaStats]: K extends "rejectedMessages"
    ? Record<RejectReason, number>
    : number;
};

/** Counters all at zero. */
export function emptyStats(): MutableReplicaStats {
  const rejectedMessages = {} as Record<RejectReason, number>;
  for (const reason of REJECT_REASONS) {
    rejectedMessages[reason] = 0;
  }
  return {
    rejectedMessages,
    snapshotChunksSent: 0,
    snapshotChunksRetransmitted: 0,
    snapshotsInstalled: 0,
    snapshotsCorrupt: 0,
  };
}

/** A copy of `stats` that later updates do not change. */
export function copyStats(stats: MutableReplicaStats): ReplicaStats {
  return { ...stats, rejectedMessages: { ...stats.rejectedMessages } };
}
