import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BALLOT_REPLICA_SPACE,
  ballotOwner,
  ballotRound,
  makeBallot,
  nextBallot,
} from "../../../host/consensus/core/ballot.js";
import { ConsensusError } from "../../../host/consensus/core/errors.js";

const replicaId = fc.integer({ min: 1, max: BALLOT_REPLICA_SPACE - 1 });
const round = fc.integer({ min: 1, max: 1_000_000 });

describe("ballots", () => {
  it("round-trip round and owner", () => {
    fc.assert(
      fc.property(round, replicaId, (r, id) => {
        const ballot = makeBallot(r, id);
        expect(ballotRound(ballot)).toBe(r);
        expect(ballotOwner(ballot)).toBe(id);
      }),
    );
  });

  it("order by round first, then by replica", () => {
    fc.assert(
      fc.property(round, replicaId, replicaId, (r, a, b) => {
        expect(makeBallot(r + 1, a)).toBeGreaterThan(makeBallot(r, b));
        expect(Math.sign(makeBallot(r, a) - makeBallot(r, b))).toBe(Math.sign(a - b));
      }),
    );
  });

  it("nextBallot is owned by the caller and exceeds what it saw", () => {
    fc.assert(
      fc.property(round, replicaId, replicaId, (r, seen, me) => {
        const ballot = nextBallot(makeBallot(r, seen), me);
        expect(ballot).toBeGreaterThan(makeBallot(r, seen));
        expect(ballotOwner(ballot)).toBe(me);
      }),
    );
    expect(ballotOwner(nextBallot(0, 3))).toBe(3);
  });

  it("rejects replica ids outside the ballot space", () => {
    expect(() => makeBallot(1, 0)).toThrow(ConsensusError);
    expect(() => makeBallot(1, BALLOT_REPLICA_SPACE)).toThrow(ConsensusError);
    expect(() => makeBallot(0, 1)).toThrow(ConsensusError);
  });
});
