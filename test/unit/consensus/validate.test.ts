import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_BALLOT } from "../../../host/consensus/core/ballot.js";
import type { Entry, SlotValue } from "../../../host/consensus/core/entry.js";
import type { Message } from "../../../host/consensus/core/messages.js";
import type { Replica } from "../../../host/consensus/core/replica.js";
import { REJECT_REASONS, type RejectReason } from "../../../host/consensus/core/stats.js";
import { validateMessage } from "../../../host/consensus/core/validate.js";
import {
  candidate,
  command,
  drain,
  fingerprint,
  follower,
  leader,
  makeReplica,
  TEST_OPTIONS,
} from "./core-fixtures.js";

const MEMBERS = new Set([1, 2, 3]);
const context = (self: number) => ({ self, members: MEMBERS, options: TEST_OPTIONS });
const batch = (n: number): SlotValue => ({ kind: "batch", commands: [command(n)] });
const entries = (from: number, count: number, ballot = 1025): Entry[] =>
  Array.from({ length: count }, (_, i) => ({ index: from + i, ballot, value: batch(i) }));

/** A well-formed message of each type from replica 2 to replica 1 (ballots valid for each). */
function validMessages(): Message[] {
  const own = 1025; // owned by replica 1, the receiver
  const peer = 2050; // owned by replica 2, the sender
  const data = new Uint8Array([1, 2, 3]);
  return [
    { type: "preVote", from: 2, to: 1, ballot: peer, commitIndex: 0 },
    { type: "preVoteReply", from: 2, to: 1, ballot: own, granted: true },
    { type: "prepare", from: 2, to: 1, ballot: peer, fromIndex: 1, commitIndex: 0 },
    {
      type: "promise",
      from: 2,
      to: 1,
      ballot: own,
      fromIndex: 3,
      entries: entries(3, 2),
      lastIndex: 9,
      commitIndex: 2,
    },
    { type: "accept", from: 2, to: 1, ballot: peer, entries: entries(1, 4), commitIndex: 0 },
    {
      type: "accepted",
      from: 2,
      to: 1,
      ballot: own,
      fromIndex: 1,
      toIndex: 4,
      commitIndex: 0,
      lastIndex: 4,
    },
    { type: "acceptGap", from: 2, to: 1, ballot: own, commitIndex: 0, lastIndex: 0 },
    { type: "heartbeat", from: 2, to: 1, ballot: peer, commitIndex: 7 },
    { type: "status", from: 2, to: 1, ballot: 0, commitIndex: 1, lastIndex: 2 },
    { type: "learn", from: 2, to: 1, ballot: peer, entries: entries(5, 1) },
    {
      type: "installSnapshot",
      from: 2,
      to: 1,
      ballot: 3075,
      index: 10,
      snapshotBallot: 1025,
      totalBytes: 5,
      checksum: 0xffffffff,
      offset: 2,
      data,
      last: true,
    },
    { type: "snapshotAck", from: 2, to: 1, ballot: 3075, index: 10, offset: 0 },
    { type: "nack", from: 2, to: 1, ballot: 0 },
  ];
}

/** A message of `type` from the valid set, with `patch` applied. */
function broken<T extends Message["type"]>(
  type: T,
  patch: Partial<Extract<Message, { type: T }>>,
): Message {
  const base = validMessages().find((m) => m.type === type);
  if (base === undefined) throw new Error(type);
  return { ...base, ...patch } as Message;
}

const badNumbers = [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53];

/** Messages with exactly one defect each, and the reason it must be refused for. */
function defects(): [RejectReason, Message][] {
  const cases: [RejectReason, Message][] = [];
  for (const message of validMessages()) {
    cases.push(["misaddressed", { ...message, to: 3 }]);
    cases.push(["misaddressed", { ...message, from: 1 }]);
    for (const from of [0, 4, 1023, -2, 2.5]) {
      cases.push(["notMember", { ...message, from }]);
    }
    for (const ballot of [...badNumbers, MAX_BALLOT + 1, 7 * 1024 + 7]) {
      cases.push(["badBallot", { ...message, ballot }]);
    }
    for (const type of ["bogus", "constructor", "__proto__", "toString"]) {
      cases.push(["unknownType", { ...message, type } as unknown as Message]);
    }
  }
  // Ballots owned by the wrong replica: the sender's own for requests, the receiver's in replies.
  for (const type of ["preVote", "prepare", "accept", "heartbeat", "learn"] as const) {
    cases.push(["badBallot", broken(type, { ballot: 1024 + 3 })]);
    cases.push(["badBallot", broken(type, { ballot: 0 })]);
  }
  for (const type of ["preVoteReply", "promise", "accepted", "acceptGap"] as const) {
    cases.push(["badBallot", broken(type, { ballot: 2048 + 2 })]);
    cases.push(["badBallot", broken(type, { ballot: 0 })]);
  }
  for (const n of badNumbers) {
    cases.push(["badIndex", broken("preVote", { commitIndex: n })]);
    cases.push(["badIndex", broken("heartbeat", { commitIndex: n })]);
    cases.push(["badIndex", broken("prepare", { fromIndex: n })]);
    cases.push(["badIndex", broken("accept", { commitIndex: n })]);
    cases.push(["badIndex", broken("accepted", { toIndex: n })]);
    cases.push(["badIndex", broken("status", { lastIndex: n })]);
    cases.push(["badIndex", broken("promise", { lastIndex: n })]);
    cases.push(["badIndex", broken("snapshotAck", { offset: n })]);
    cases.push(["badEntries", broken("accept", { entries: entries(n, 1) })]);
  }
  cases.push(["malformed", broken("preVoteReply", { granted: 1 as unknown as boolean })]);
  cases.push(["malformed", broken("accept", { entries: {} as unknown as Entry[] })]);
  cases.push([
    "malformed",
    broken("installSnapshot", { data: [1, 2, 3] as unknown as Uint8Array }),
  ]);
  cases.push(["badIndex", broken("prepare", { fromIndex: 0 })]);
  cases.push(["badIndex", broken("accepted", { fromIndex: 5, toIndex: 4 })]);
  cases.push(["badIndex", broken("accepted", { toIndex: 9 })]);
  cases.push(["badIndex", broken("status", { commitIndex: 3 })]);
  cases.push(["badIndex", broken("snapshotAck", { index: 0 })]);
  cases.push(["badIndex", broken("snapshotAck", { offset: TEST_OPTIONS.maxSnapshotBytes + 1 })]);
  // Entry lists.
  cases.push(["badEntries", broken("accept", { entries: [] })]);
  cases.push(["badEntries", broken("learn", { entries: [] })]);
  cases.push(["badEntries", broken("accept", { entries: entries(0, 2) })]);
  cases.push(["badEntries", broken("accept", { entries: [...entries(1, 1), ...entries(3, 1)] })]);
  cases.push(["badEntries", broken("learn", { entries: [...entries(2, 1), ...entries(2, 1)] })]);
  cases.push(["badEntries", broken("promise", { entries: entries(4, 2) })]);
  cases.push(["badEntries", broken("promise", { entries: entries(3, 2), lastIndex: 3 })]);
  cases.push([
    "badEntries",
    broken("accept", {
      entries: [{ index: 1, ballot: 1025, value: { kind: "batch", commands: [] } }],
    }),
  ]);
  cases.push(["badEntries", broken("accept", { entries: entries(1, 1, 7 * 1024 + 7) })]);
  // Limits.
  cases.push([
    "tooLarge",
    broken("accept", { entries: entries(1, TEST_OPTIONS.maxEntriesPerMessage + 1) }),
  ]);
  cases.push(["tooLarge", broken("accepted", { fromIndex: 1, toIndex: 5, lastIndex: 5 })]);
  const huge: Entry = {
    index: 1,
    ballot: 1025,
    value: {
      kind: "batch",
      commands: [
        { clientId: "c", requestId: 1, payload: new Uint8Array(TEST_OPTIONS.maxMessageBytes) },
      ],
    },
  };
  cases.push(["tooLarge", broken("learn", { entries: [huge] })]);
  // Snapshot chunks.
  cases.push([
    "badSnapshotChunk",
    broken("installSnapshot", { totalBytes: TEST_OPTIONS.maxSnapshotBytes + 1 }),
  ]);
  cases.push(["badSnapshotChunk", broken("installSnapshot", { totalBytes: 4 })]);
  cases.push(["badSnapshotChunk", broken("installSnapshot", { last: false })]);
  cases.push(["badSnapshotChunk", broken("installSnapshot", { totalBytes: 9, last: true })]);
  cases.push([
    "badSnapshotChunk",
    broken("installSnapshot", { data: new Uint8Array(), offset: 5 }),
  ]);
  cases.push(["badSnapshotChunk", broken("installSnapshot", { checksum: 2 ** 32 })]);
  cases.push(["badSnapshotChunk", broken("installSnapshot", { checksum: -1 })]);
  cases.push(["badSnapshotChunk", broken("installSnapshot", { index: 0 })]);
  cases.push(["badSnapshotChunk", broken("installSnapshot", { snapshotBallot: -5 })]);
  cases.push([
    "badSnapshotChunk",
    broken("installSnapshot", {
      data: new Uint8Array(TEST_OPTIONS.maxMessageBytes + 1),
      offset: 0,
      totalBytes: TEST_OPTIONS.maxMessageBytes + 1,
    }),
  ]);
  return cases;
}

/** The replica states a message can hit; each is addressed as replica `self`. */
const STATES: [string, () => Replica][] = [
  ["follower", follower],
  ["candidate", candidate],
  ["leader", leader],
];

describe("validateMessage (the boundary)", () => {
  it("accepts one well-formed message of every type", () => {
    for (const message of validMessages()) {
      expect([message.type, validateMessage(message, context(1))]).toEqual([
        message.type,
        undefined,
      ]);
    }
  });

  it("refuses every single defect with its reason", () => {
    for (const [reason, message] of defects()) {
      expect(validateMessage(message, context(1)), JSON.stringify(message)).toBe(reason);
    }
  });

  it("a refused message changes nothing, throws nothing and is counted (property)", () => {
    const cases = defects();
    fc.assert(
      fc.property(
        fc.constantFrom(...STATES),
        fc.constantFrom(...cases),
        ([, build], [reason, template]) => {
          const replica = build();
          const self = replica.status().replicaId;
          // Address the defect to whichever replica is under test, keeping the defect itself.
          const message = retarget(template, self);
          const before = fingerprint(replica);
          const counted = replica.stats().rejectedMessages[reason];
          replica.step(message);
          expect(fingerprint(replica)).toBe(before);
          expect(replica.stats().rejectedMessages[reason]).toBe(counted + 1);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a heartbeat from a non-member does not make a follower refuse its leader", () => {
    const replica = follower();
    replica.step({ type: "heartbeat", from: 9, to: 2, ballot: 9 * 1024 + 9, commitIndex: 3 });
    replica.step({ type: "heartbeat", from: 1, to: 2, ballot: 1025, commitIndex: 3 });
    const messages = drain(replica);
    expect(messages.map((m) => m.type)).toEqual(["status"]);
    expect(replica.status()).toMatchObject({
      leaderReplicaId: 1,
      promisedBallot: 1025,
      commitIndex: 3,
    });
    expect(replica.stats().rejectedMessages.notMember).toBe(1);
  });

  it("an accept with no entries is refused before the promise is raised", () => {
    const replica = follower();
    replica.step({
      type: "accept",
      from: 3,
      to: 2,
      ballot: 5 * 1024 + 3,
      entries: [],
      commitIndex: 0,
    });
    expect(replica.promisedBallot()).toBe(1025);
    expect(replica.hasReady()).toBe(false);
    expect(replica.stats().rejectedMessages.badEntries).toBe(1);
  });

  it("step never throws on arbitrary well-typed messages between members (property)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...STATES),
        fc.array(arbitraryMessage(), { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(5), { maxLength: 12 }),
        ([, build], messages, ticks) => {
          const replica = build();
          const self = replica.status().replicaId;
          messages.forEach((template, i) => {
            replica.step({
              ...template,
              to: self,
              from: template.from === self ? 3 : template.from,
            });
            drain(replica);
            for (let t = 0; t < (ticks[i] ?? 0); t += 1) {
              replica.tick();
              drain(replica);
            }
          });
          const status = replica.status();
          expect(status.commitIndex).toBeLessThanOrEqual(status.lastIndex);
          expect(status.appliedIndex).toBe(status.commitIndex);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("counts every reason separately, starting at zero", () => {
    const replica = makeReplica(1, 3);
    expect(Object.keys(replica.stats().rejectedMessages)).toEqual([...REJECT_REASONS]);
    expect(Object.values(replica.stats().rejectedMessages).every((n) => n === 0)).toBe(true);
  });
});

/** `template` sent to `self` instead of replica 1, with ballot ownership kept consistent. */
function retarget(template: Message, self: number): Message {
  if (self === 1) {
    return template;
  }
  // Swap the roles of replicas 1 and `self` everywhere: ids and the owners of ballots.
  const swap = (id: number): number => (id === 1 ? self : id === self ? 1 : id);
  const swapBallot = (ballot: number): number =>
    Number.isSafeInteger(ballot) && ballot > 0
      ? ballot - (ballot % 1024) + swap(ballot % 1024)
      : ballot;
  return {
    ...template,
    from: swap(template.from),
    to: swap(template.to),
    ballot: swapBallot(template.ballot),
  } as Message;
}

/** Any message between members with small numbers, so the protocol paths are actually hit. */
function arbitraryMessage(): fc.Arbitrary<Message> {
  const id = fc.integer({ min: 1, max: 3 });
  const ballot = fc.oneof(
    fc.constant(0),
    fc.tuple(fc.integer({ min: 1, max: 4 }), id).map(([round, owner]) => round * 1024 + owner),
  );
  const index = fc.integer({ min: 0, max: 8 });
  const slot = fc.integer({ min: 1, max: 8 });
  const value: fc.Arbitrary<SlotValue> = fc.oneof(
    fc.constant<SlotValue>({ kind: "noop" }),
    fc.nat(50).map(batch),
  );
  const entryList = fc
    .tuple(slot, fc.array(fc.tuple(ballot, value), { maxLength: 4 }))
    .map(([from, items]) =>
      items.map(([b, v], i): Entry => ({ index: from + i, ballot: b, value: v })),
    );
  const snapshotData = fc.uint8Array({ minLength: 0, maxLength: 40 });
  return fc.oneof(
    fc.record({
      type: fc.constant("preVote" as const),
      from: id,
      to: id,
      ballot,
      commitIndex: index,
    }),
    fc.record({
      type: fc.constant("preVoteReply" as const),
      from: id,
      to: id,
      ballot,
      granted: fc.boolean(),
    }),
    fc.record({
      type: fc.constant("prepare" as const),
      from: id,
      to: id,
      ballot,
      fromIndex: slot,
      commitIndex: index,
    }),
    fc
      .record({ from: id, to: id, ballot, entries: entryList, extra: index, commitIndex: index })
      .map(
        (m): Message => ({
          type: "promise",
          from: m.from,
          to: m.to,
          ballot: m.ballot,
          fromIndex: m.entries[0]?.index ?? 1,
          entries: m.entries,
          lastIndex: (m.entries.at(-1)?.index ?? 0) + m.extra,
          commitIndex: m.commitIndex,
        }),
      ),
    fc.record({
      type: fc.constant("accept" as const),
      from: id,
      to: id,
      ballot,
      entries: entryList,
      commitIndex: index,
    }),
    fc.record({
      type: fc.constant("accepted" as const),
      from: id,
      to: id,
      ballot,
      fromIndex: slot,
      toIndex: slot,
      commitIndex: index,
      lastIndex: index,
    }),
    fc.record({
      type: fc.constant("acceptGap" as const),
      from: id,
      to: id,
      ballot,
      commitIndex: index,
      lastIndex: index,
    }),
    fc.record({
      type: fc.constant("heartbeat" as const),
      from: id,
      to: id,
      ballot,
      commitIndex: index,
    }),
    fc.record({
      type: fc.constant("status" as const),
      from: id,
      to: id,
      ballot,
      commitIndex: index,
      lastIndex: index,
    }),
    fc.record({
      type: fc.constant("learn" as const),
      from: id,
      to: id,
      ballot,
      entries: entryList,
    }),
    fc
      .record({
        from: id,
        to: id,
        ballot,
        index: slot,
        data: snapshotData,
        cut: fc.nat(40),
        checksum: fc.nat(),
      })
      .map((m): Message => {
        const offset = Math.min(m.cut, m.data.length);
        return {
          type: "installSnapshot",
          from: m.from,
          to: m.to,
          ballot: m.ballot,
          index: m.index,
          snapshotBallot: 1025,
          totalBytes: m.data.length,
          checksum: m.checksum,
          offset,
          data: m.data.subarray(offset),
          last: true,
        };
      }),
    fc.record({
      type: fc.constant("snapshotAck" as const),
      from: id,
      to: id,
      ballot,
      index: slot,
      offset: index,
    }),
    fc.record({ type: fc.constant("nack" as const), from: id, to: id, ballot }),
  );
}
