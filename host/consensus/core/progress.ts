import type { SnapshotTransfer } from "./snapshot-transfer.js";

/**
 * What a leader knows about one follower. All indexes are slot indexes.
 *
 * `matchIndex` is the highest slot such that the follower has accepted every slot from the
 * leader's `startIndex` up to it at the leader's ballot; it only grows during one leadership.
 */
export interface Progress {
  /** The next slot to send in an accept. */
  nextIndex: number;
  /** See the type comment. */
  matchIndex: number;
  /** `matchIndex` at the previous heartbeat; no movement since then triggers a retransmit. */
  matchAtLastHeartbeat: number;
  /** The follower's commit index as last reported. */
  commitIndex: number;
  /** The follower's commit index at the previous heartbeat, to detect a stalled catch-up. */
  commitAtLastHeartbeat: number;
  /** True while the follower misses slots below `startIndex`: accepts wait for catch-up. */
  needsCatchUp: boolean;
  /** Catch-up has been sent up to (excluding) this slot; the next chunk waits for progress. */
  catchUpSentUntil: number;
  /** Whether the follower answered since the last quorum check. */
  active: boolean;
  /** The snapshot being sent to the follower, chunk by chunk; at most one at a time. */
  snapshot: SnapshotTransfer | undefined;
}

/** A fresh progress record for a leadership that starts at `startIndex`. */
export function newProgress(startIndex: number): Progress {
  return {
    nextIndex: startIndex,
    matchIndex: startIndex - 1,
    matchAtLastHeartbeat: startIndex - 1,
    commitIndex: 0,
    commitAtLastHeartbeat: 0,
    needsCatchUp: false,
    catchUpSentUntil: 0,
    active: true,
    snapshot: undefined,
  };
}
