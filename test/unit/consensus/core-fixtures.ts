import { type CoreOptions, DEFAULT_CORE_OPTIONS } from "../../../host/consensus/core/config.js";
import type { Command, Entry, Snapshot } from "../../../host/consensus/core/entry.js";
import type { Message } from "../../../host/consensus/core/messages.js";
import type { Ready } from "../../../host/consensus/core/ready.js";
import { Replica } from "../../../host/consensus/core/replica.js";
import { seededRng } from "../../../host/consensus/engine/rng.js";
import { clusterConfig } from "./helpers.js";

/** Small limits so tests reach them with little data. */
export const TEST_OPTIONS: CoreOptions = {
  ...DEFAULT_CORE_OPTIONS,
  electionTimeoutTicks: 10,
  heartbeatIntervalTicks: 2,
  maxEntriesPerMessage: 4,
  maxBatchCommands: 8,
  maxBatchBytes: 1024,
  maxMessageBytes: 4096,
  snapshotChunkBytes: 64,
  maxSnapshotBytes: 1 << 16,
  snapshotRetransmitTicks: 6,
};

/** A fresh replica `id` of an `size`-member cluster (ids 1..size). */
export function makeReplica(
  id: number,
  size: number,
  overrides: Partial<CoreOptions> = {},
  snapshot?: Snapshot,
): Replica {
  return new Replica({
    config: clusterConfig(size),
    replicaId: id,
    options: { ...TEST_OPTIONS, ...overrides },
    rng: seededRng(id),
    hardState: { promisedBallot: 0, commitIndex: snapshot?.index ?? 0 },
    snapshot,
    compactedIndex: snapshot?.index ?? 0,
    entries: [],
  });
}

/** A one-command batch value. */
export function command(n: number): Command {
  return { clientId: "c", requestId: n, payload: new Uint8Array([n & 0xff]) };
}

/** Drains the replica's Readys as a driver that persists instantly would; returns the messages. */
export function drain(replica: Replica): Message[] {
  const messages: Message[] = [];
  while (replica.hasReady()) {
    const ready: Ready = replica.ready();
    messages.push(...ready.messages);
    replica.advance(ready);
  }
  return messages;
}

/** Replica 2 of 3, following leader 1 at ballot 1025: slots 1..3 accepted, 1..2 committed. */
export function follower(): Replica {
  const replica = makeReplica(2, 3);
  const entries: Entry[] = [1, 2, 3].map((index) => ({
    index,
    ballot: 1025,
    value: { kind: "batch", commands: [command(index)] },
  }));
  replica.step({ type: "accept", from: 1, to: 2, ballot: 1025, entries, commitIndex: 2 });
  drain(replica);
  return replica;
}

/** Replica 1 of 3, candidate: it asked replicas 2 and 3 for promises, none answered yet. */
export function candidate(): Replica {
  const replica = makeReplica(1, 3);
  let messages: Message[] = [];
  for (let i = 0; i < 40 && replica.status().role === "follower"; i += 1) {
    replica.tick();
    messages = drain(replica);
  }
  const preVote = messages.find((m) => m.type === "preVote");
  if (preVote === undefined) throw new Error("no pre-vote");
  replica.step({ type: "preVoteReply", from: 2, to: 1, ballot: preVote.ballot, granted: true });
  drain(replica);
  if (replica.status().role !== "candidate") throw new Error("not a candidate");
  return replica;
}

/** Replica 1 of 3, leader (promise from replica 2), with slots 1..3 committed and 4 open. */
export function leader(): Replica {
  const replica = candidate();
  const ballot = replica.promisedBallot();
  replica.step({
    type: "promise",
    from: 2,
    to: 1,
    ballot,
    fromIndex: 1,
    entries: [],
    lastIndex: 0,
    commitIndex: 0,
  });
  drain(replica);
  if (replica.status().role !== "leader") throw new Error("not a leader");
  replica.propose([command(1)]);
  drain(replica);
  replica.propose([command(2)]);
  drain(replica);
  replica.propose([command(3)]);
  drain(replica);
  replica.step({
    type: "accepted",
    from: 2,
    to: 1,
    ballot,
    fromIndex: 1,
    toIndex: 3,
    commitIndex: 0,
    lastIndex: 3,
  });
  drain(replica);
  replica.propose([command(4)]);
  drain(replica);
  return replica;
}

/** Everything observable about a replica's protocol state, for "nothing changed" assertions. */
export function fingerprint(replica: Replica): string {
  const status = replica.status();
  const slots: string[] = [];
  for (let index = status.compactedIndex + 1; index <= status.lastIndex; index += 1) {
    const entry = replica.entryAt(index);
    const value =
      entry?.value.kind === "batch"
        ? entry.value.commands.map((c) => `${c.clientId}#${c.requestId}`).join(",")
        : "noop";
    slots.push(`${index}@${entry?.ballot}:${value}`);
  }
  return JSON.stringify({
    status,
    slots,
    hasReady: replica.hasReady(),
    snapshot: replica.latestSnapshot()?.index,
  });
}
