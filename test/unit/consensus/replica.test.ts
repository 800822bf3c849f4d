import { describe, expect, it } from "vitest";
import { ballotOwner } from "../../../host/consensus/core/ballot.js";
import { type CoreOptions, DEFAULT_CORE_OPTIONS } from "../../../host/consensus/core/config.js";
import type { Command } from "../../../host/consensus/core/entry.js";
import { ConsensusError } from "../../../host/consensus/core/errors.js";
import type { Message } from "../../../host/consensus/core/messages.js";
import type { Ready } from "../../../host/consensus/core/ready.js";
import { Replica } from "../../../host/consensus/core/replica.js";
import { seededRng } from "../../../host/consensus/engine/rng.js";
import { clusterConfig } from "./helpers.js";

const options: CoreOptions = {
  ...DEFAULT_CORE_OPTIONS,
  electionTimeoutTicks: 10,
  heartbeatIntervalTicks: 2,
};

function replica(id: number, size: number, overrides: Partial<CoreOptions> = {}): Replica {
  return new Replica({
    config: clusterConfig(size),
    replicaId: id,
    options: { ...options, ...overrides },
    rng: seededRng(id),
    hardState: { promisedBallot: 0, commitIndex: 0 },
    snapshot: undefined,
    compactedIndex: 0,
    entries: [],
  });
}

const command = (n: number): Command => ({
  clientId: "c",
  requestId: n,
  payload: new Uint8Array([n]),
});

/** Drains the replica's Readys (as a driver that persists instantly would). */
function drain(r: Replica): Ready[] {
  const readys: Ready[] = [];
  while (r.hasReady()) {
    const ready = r.ready();
    readys.push(ready);
    r.advance(ready);
  }
  return readys;
}

function tickUntilLeader(r: Replica): void {
  for (let i = 0; i < 100 && r.status().role !== "leader"; i += 1) {
    r.tick();
    drain(r);
  }
  expect(r.status().role).toBe("leader");
}

describe("Replica (core state machine)", () => {
  it("a single replica elects itself and commits a proposal in one Ready", () => {
    const r = replica(1, 1);
    tickUntilLeader(r);
    r.propose([command(1)]);
    const [ready] = drain(r);
    expect(ready?.entries.map((e) => e.index)).toEqual([1]);
    expect(ready?.committedEntries.map((e) => e.index)).toEqual([1]);
    expect(ready?.hardState?.commitIndex).toBe(1);
    expect(ballotOwner(r.status().promisedBallot)).toBe(1);
  });

  it("batches proposals made between Readys into one slot, within maxBatchCommands", () => {
    const r = replica(1, 1, { maxBatchCommands: 3 });
    tickUntilLeader(r);
    r.propose([1, 2, 3, 4, 5, 6, 7].map(command));
    const [ready] = drain(r);
    const sizes = ready?.entries.map((e) =>
      e.value.kind === "batch" ? e.value.commands.length : 0,
    );
    expect(sizes).toEqual([3, 3, 1]);
  });

  it("keeps at most windowSlots uncommitted slots", () => {
    const r = replica(1, 3, { windowSlots: 4, maxBatchCommands: 1 });
    // Replica 1 wins an election by hand: pre-votes and promises from replica 2.
    for (let i = 0; i < 30 && r.status().role === "follower"; i += 1) r.tick();
    const preVotes = drain(r).flatMap((ready) => ready.messages);
    const preVote = preVotes.find((m) => m.type === "preVote" && m.to === 2);
    expect(preVote?.type).toBe("preVote");
    r.step({ type: "preVoteReply", from: 2, to: 1, ballot: preVote?.ballot ?? 0, granted: true });
    const prepare = drain(r)
      .flatMap((ready) => ready.messages)
      .find((m) => m.type === "prepare" && m.to === 2);
    if (prepare?.type !== "prepare") throw new Error("no prepare");
    r.step({
      type: "promise",
      from: 2,
      to: 1,
      ballot: prepare.ballot,
      fromIndex: prepare.fromIndex,
      entries: [],
      lastIndex: 0,
      commitIndex: 0,
    });
    drain(r);
    expect(r.status().role).toBe("leader");
    r.propose([1, 2, 3, 4, 5, 6].map(command));
    drain(r);
    expect(r.status().lastIndex).toBe(4);
    expect(r.status().pendingCommands).toBe(2);
  });

  it("rejects proposals at a follower with NotLeader and when the queue is full", () => {
    const follower = replica(1, 3);
    expect(() => follower.propose([command(1)])).toThrow(ConsensusError);
    const leader = replica(1, 1, { maxPendingCommands: 2 });
    tickUntilLeader(leader);
    let error: unknown;
    try {
      leader.propose([command(1), command(2), command(3)]);
    } catch (caught) {
      error = caught;
    }
    expect((error as ConsensusError).code).toBe("Overloaded");
  });

  it("persists a promise in the same Ready that sends it", () => {
    const acceptor = replica(2, 3);
    acceptor.step({ type: "prepare", from: 1, to: 2, ballot: 1025, fromIndex: 1, commitIndex: 0 });
    const ready = acceptor.ready();
    expect(ready.hardState?.promisedBallot).toBe(1025);
    expect(ready.messages.map((m) => m.type)).toEqual(["promise"]);
  });

  it("refuses a lower ballot with a nack carrying the promised ballot", () => {
    const acceptor = replica(2, 3);
    acceptor.step({ type: "prepare", from: 3, to: 2, ballot: 2051, fromIndex: 1, commitIndex: 0 });
    drain(acceptor);
    acceptor.step({ type: "heartbeat", from: 1, to: 2, ballot: 1025, commitIndex: 0 });
    const messages: Message[] = drain(acceptor).flatMap((ready) => ready.messages);
    expect(messages).toEqual([{ type: "nack", from: 2, to: 1, ballot: 2051 }]);
  });

  it("answers an accept that would leave a hole with its last index", () => {
    const acceptor = replica(2, 3);
    acceptor.step({
      type: "accept",
      from: 1,
      to: 2,
      ballot: 1025,
      entries: [{ index: 5, ballot: 1025, value: { kind: "noop" } }],
      commitIndex: 0,
    });
    const messages = drain(acceptor).flatMap((ready) => ready.messages);
    expect(messages).toEqual([
      { type: "acceptGap", from: 2, to: 1, ballot: 1025, commitIndex: 0, lastIndex: 0 },
    ]);
  });

  it("learns a slot is chosen only when it holds the leader's ballot's value", () => {
    const acceptor = replica(2, 3);
    const noop = { kind: "noop" } as const;
    acceptor.step({
      type: "accept",
      from: 1,
      to: 2,
      ballot: 1025,
      entries: [{ index: 1, ballot: 0, value: noop }],
      commitIndex: 0,
    });
    drain(acceptor);
    // A newer leader says slot 1 is committed, but this acceptor holds ballot 1025's value.
    acceptor.step({ type: "heartbeat", from: 3, to: 2, ballot: 2051, commitIndex: 1 });
    drain(acceptor);
    expect(acceptor.status().commitIndex).toBe(0);
    acceptor.step({ type: "heartbeat", from: 3, to: 2, ballot: 2051, commitIndex: 1 });
    acceptor.step({
      type: "learn",
      from: 3,
      to: 2,
      ballot: 2051,
      entries: [{ index: 1, ballot: 2051, value: noop }],
    });
    drain(acceptor);
    expect(acceptor.status().commitIndex).toBe(1);
  });

  it("enforces the Ready/advance protocol", () => {
    const r = replica(1, 1);
    r.tick();
    r.ready();
    expect(() => r.ready()).toThrow(ConsensusError);
  });

  it("refuses pre-votes while the candidate it promised makes progress, grants once it is silent", () => {
    const acceptor = replica(2, 3);
    const candidateBallot = 1 * 1024 + 1;
    const prepare = (fromIndex: number): Message => ({
      type: "prepare",
      from: 1,
      to: 2,
      ballot: candidateBallot,
      fromIndex,
      commitIndex: 0,
    });
    const preVote: Message = {
      type: "preVote",
      from: 3,
      to: 2,
      ballot: 2 * 1024 + 3,
      commitIndex: 0,
    };
    const granted = (): boolean | undefined => {
      acceptor.step(preVote);
      const reply = drain(acceptor)
        .flatMap((ready) => ready.messages)
        .find((message) => message.type === "preVoteReply");
      return reply?.type === "preVoteReply" ? reply.granted : undefined;
    };
    acceptor.step(prepare(1));
    drain(acceptor);
    // The candidate's chunk requests keep coming, each within an election timeout: the acceptor
    // neither campaigns nor lets a rival campaign, for longer than several election timeouts.
    for (let i = 0; i < 40; i += 1) {
      acceptor.tick();
      acceptor.tick();
      acceptor.step(prepare(1));
      drain(acceptor);
      expect(acceptor.status().role).toBe("follower");
    }
    expect(granted()).toBe(false);
    // The candidate falls silent: after an election timeout the rival's pre-vote is granted.
    for (let i = 0; i < options.electionTimeoutTicks; i += 1) {
      acceptor.tick();
      drain(acceptor);
    }
    expect(granted()).toBe(true);
  });
});
