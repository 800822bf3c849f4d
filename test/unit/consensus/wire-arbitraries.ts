import fc from "fast-check";
import type { Command, Entry, SlotValue, Snapshot } from "../../../host/consensus/core/entry.js";
import type { Message } from "../../../host/consensus/core/messages.js";

/** Arbitrary values of every consensus message field, within their domains. */
const replicaId = fc.integer({ min: 1, max: 1023 });
const index = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat());
const ballot = index;
const bytes = fc.uint8Array({ maxLength: 64 });
/** Well-formed Unicode (lone surrogates cannot be UTF-8 and are refused by the encoder). */
const clientId = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: "grapheme", maxLength: 8 }),
);

const command: fc.Arbitrary<Command> = fc.record({ clientId, requestId: index, payload: bytes });

const slotValue: fc.Arbitrary<SlotValue> = fc.oneof(
  fc.constant<SlotValue>({ kind: "noop" }),
  fc.array(command, { maxLength: 4 }).map<SlotValue>((commands) => ({ kind: "batch", commands })),
);

const entry: fc.Arbitrary<Entry> = fc.record({ index, ballot, value: slotValue });
const entries = fc.array(entry, { maxLength: 5 });

export const arbitrarySnapshot: fc.Arbitrary<Snapshot> = fc.record({
  index,
  ballot,
  data: fc.uint8Array({ maxLength: 256 }),
});

const addressed = { from: replicaId, to: replicaId, ballot };

/** One arbitrary per message type; `satisfies` fails to compile when a type is missing. */
export const messageArbitraries = {
  preVote: fc.record({ type: fc.constant("preVote" as const), ...addressed, commitIndex: index }),
  preVoteReply: fc.record({
    type: fc.constant("preVoteReply" as const),
    ...addressed,
    granted: fc.boolean(),
  }),
  prepare: fc.record({
    type: fc.constant("prepare" as const),
    ...addressed,
    fromIndex: index,
    commitIndex: index,
  }),
  promise: fc.record({
    type: fc.constant("promise" as const),
    ...addressed,
    fromIndex: index,
    entries,
    lastIndex: index,
    commitIndex: index,
  }),
  accept: fc.record({
    type: fc.constant("accept" as const),
    ...addressed,
    entries,
    commitIndex: index,
  }),
  accepted: fc.record({
    type: fc.constant("accepted" as const),
    ...addressed,
    fromIndex: index,
    toIndex: index,
    commitIndex: index,
    lastIndex: index,
  }),
  acceptGap: fc.record({
    type: fc.constant("acceptGap" as const),
    ...addressed,
    commitIndex: index,
    lastIndex: index,
  }),
  heartbeat: fc.record({
    type: fc.constant("heartbeat" as const),
    ...addressed,
    commitIndex: index,
  }),
  status: fc.record({
    type: fc.constant("status" as const),
    ...addressed,
    commitIndex: index,
    lastIndex: index,
  }),
  learn: fc.record({ type: fc.constant("learn" as const), ...addressed, entries }),
  installSnapshot: fc.record({
    type: fc.constant("installSnapshot" as const),
    ...addressed,
    index,
    snapshotBallot: ballot,
    totalBytes: index,
    checksum: fc.nat({ max: 0xffff_ffff }),
    offset: index,
    data: fc.uint8Array({ maxLength: 256 }),
    last: fc.boolean(),
  }),
  snapshotAck: fc.record({
    type: fc.constant("snapshotAck" as const),
    ...addressed,
    index,
    offset: index,
  }),
  nack: fc.record({ type: fc.constant("nack" as const), ...addressed }),
} satisfies { [K in Message["type"]]: fc.Arbitrary<Extract<Message, { type: K }>> };

/** Any message, every type equally likely. */
export const arbitraryMessage: fc.Arbitrary<Message> = fc.oneof(
  ...Object.values(messageArbitraries),
) as fc.Arbitrary<Message>;

/** A message of each type with non-trivial content, for transport tests. */
export function sampleMessages(from: number, to: number): Message[] {
  const payload = new Uint8Array([1, 2, 3, 250]);
  const batch: SlotValue = {
    kind: "batch",
    commands: [
      { clientId: "client-a", requestId: 7, payload },
      { clientId: "клиент-β", requestId: 2 ** 53 - 1, payload: new Uint8Array(0) },
    ],
  };
  const list: Entry[] = [
    { index: 5, ballot: 2049, value: batch },
    { index: 6, ballot: 2049, value: { kind: "noop" } },
  ];
  const base = { from, to, ballot: 2049 };
  return [
    { type: "preVote", ...base, commitIndex: 4 },
    { type: "preVoteReply", ...base, granted: true },
    { type: "prepare", ...base, fromIndex: 5, commitIndex: 4 },
    { type: "promise", ...base, fromIndex: 5, entries: list, lastIndex: 6, commitIndex: 4 },
    { type: "accept", ...base, entries: list, commitIndex: 4 },
    { type: "accepted", ...base, fromIndex: 5, toIndex: 6, commitIndex: 4, lastIndex: 6 },
    { type: "acceptGap", ...base, commitIndex: 4, lastIndex: 3 },
    { type: "heartbeat", ...base, commitIndex: 6 },
    { type: "status", ...base, commitIndex: 6, lastIndex: 6 },
    { type: "learn", ...base, entries: list },
    {
      type: "installSnapshot",
      ...base,
      index: 6,
      snapshotBallot: 2049,
      totalBytes: 5,
      checksum: 0xdead_beef,
      offset: 2,
      data: new Uint8Array([9, 8, 7]),
      last: true,
    },
    { type: "snapshotAck", ...base, index: 6, offset: 5 },
    { type: "nack", ...base },
  ];
}
