import { invariant } from "./errors.js";

/**
 * A ballot is a single integer `round * BALLOT_REPLICA_SPACE + replicaId`. Folding the owner into
 * the number makes every ballot unique to one replica and totally ordered, so "term" can be a
 * plain number. Ballot 0 means "none".
 */
export type Ballot = number;

/** Replica ids must be in `[1, BALLOT_REPLICA_SPACE - 1]`. */
export const BALLOT_REPLICA_SPACE = 1024;

/** The highest round a ballot may have, so that the next round's ballot is still a safe integer. */
export const MAX_BALLOT_ROUND = Math.floor(Number.MAX_SAFE_INTEGER / BALLOT_REPLICA_SPACE) - 1;

/** The highest ballot a replica accepts from the network. */
export const MAX_BALLOT = MAX_BALLOT_ROUND * BALLOT_REPLICA_SPACE + BALLOT_REPLICA_SPACE - 1;

/** The ballot that precedes every real ballot. */
export const NO_BALLOT: Ballot = 0;

/** Builds the ballot of `replicaId` in `round`. */
export function makeBallot(round: number, replicaId: number): Ballot {
  invariant(Number.isSafeInteger(round) && round >= 1, `ballot round ${round} must be >= 1`);
  invariant(
    Number.isInteger(replicaId) && replicaId >= 1 && replicaId < BALLOT_REPLICA_SPACE,
    `replica id ${replicaId} out of range`,
  );
  const ballot = round * BALLOT_REPLICA_SPACE + replicaId;
  invariant(Number.isSafeInteger(ballot), "ballot overflow");
  return ballot;
}

/** The round of `ballot` (0 for `NO_BALLOT`). */
export function ballotRound(ballot: Ballot): number {
  return Math.floor(ballot / BALLOT_REPLICA_SPACE);
}

/** The replica that owns `ballot` (0 for `NO_BALLOT`). */
export function ballotOwner(ballot: Ballot): number {
  return ballot % BALLOT_REPLICA_SPACE;
}

/** A ballot owned by `replicaId` that is greater than `atLeast` (the next round's). */
export function nextBallot(atLeast: Ballot, replicaId: number): Ballot {
  return makeBallot(ballotRound(atLeast) + 1, replicaId);
}
