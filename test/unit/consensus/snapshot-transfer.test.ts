import { describe, expect, it } from "vitest";
import { crc32 } from "../../../host/consensus/core/crc32.js";
import type { Snapshot } from "../../../host/consensus/core/entry.js";
import type { InstallSnapshotMessage, Message } from "../../../host/consensus/core/messages.js";
import { SnapshotAssembly, snapshotChunk } from "../../../host/consensus/core/snapshot-transfer.js";
import { drain, follower, leader, makeReplica, TEST_OPTIONS } from "./core-fixtures.js";

const CHUNK = TEST_OPTIONS.snapshotChunkBytes;

function bytes(length: number, seed = 7): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);
}

const snapshot = (index: number, length: number): Snapshot => ({
  index,
  ballot: 1025,
  data: bytes(length),
});

/** Every chunk of `snap`, as sent by replica 1 at `ballot` to replica 2. */
function chunks(snap: Snapshot, ballot = 1025, to = 2): InstallSnapshotMessage[] {
  const out: InstallSnapshotMessage[] = [];
  for (let offset = 0; ; offset += CHUNK) {
    const chunk = snapshotChunk(snap, offset, CHUNK);
    out.push({ type: "installSnapshot", from: 1, to, ballot, ...chunk });
    if (chunk.last) return out;
  }
}

const acks = (messages: Message[]) =>
  messages.flatMap((m) => (m.type === "snapshotAck" ? [m.offset] : []));

describe("crc32", () => {
  it("matches the standard check value", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array())).toBe(0);
  });
});

describe("snapshot chunks and their reassembly", () => {
  it("splits into views of at most chunkBytes and reassembles in order only", () => {
    const snap = snapshot(9, 3 * CHUNK + 5);
    const parts = chunks(snap);
    expect(parts.map((c) => c.data.byteLength)).toEqual([CHUNK, CHUNK, CHUNK, 5]);
    expect(parts.map((c) => c.last)).toEqual([false, false, false, true]);
    const [a, b, c, d] = parts;
    if (!a || !b || !c || !d) throw new Error("chunks");
    const assembly = new SnapshotAssembly(1, a);
    expect(assembly.add(b)).toBe("ignored");
    expect(assembly.add(a)).toBe("appended");
    expect(assembly.add(a)).toBe("ignored");
    expect(assembly.add(b)).toBe("appended");
    expect(assembly.add(c)).toBe("appended");
    expect(assembly.add(d)).toBe("complete");
    expect(assembly.snapshot()).toEqual(snap);
  });

  it("detects bytes that do not match the checksum", () => {
    const parts = chunks(snapshot(9, 2 * CHUNK));
    const [a, b] = parts;
    if (!a || !b) throw new Error("chunks");
    const assembly = new SnapshotAssembly(1, a);
    assembly.add(a);
    const flipped = b.data.slice();
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    expect(assembly.add({ ...b, data: flipped })).toBe("corrupt");
  });

  it("carries an empty snapshot as one empty last chunk", () => {
    const snap = snapshot(3, 0);
    const [only] = chunks(snap);
    if (!only) throw new Error("chunk");
    expect(only).toMatchObject({ offset: 0, totalBytes: 0, last: true });
    expect(new SnapshotAssembly(1, only).add(only)).toBe("complete");
  });
});

describe("Replica: receiving a snapshot", () => {
  it("acknowledges every chunk with the bytes held and installs only the complete snapshot", () => {
    const replica = follower();
    const snap = snapshot(10, 2 * CHUNK + 3);
    const [a, b, c] = chunks(snap);
    if (!a || !b || !c) throw new Error("chunks");
    replica.step(b);
    expect(acks(drain(replica))).toEqual([0]);
    replica.step(a);
    replica.step(a);
    replica.step(b);
    expect(acks(drain(replica))).toEqual([CHUNK, CHUNK, 2 * CHUNK]);
    expect(replica.status().commitIndex).toBe(2);
    replica.step(c);
    const ready = replica.ready();
    expect(ready.snapshot).toEqual(snap);
    expect(acks([...ready.messages])).toEqual([snap.data.byteLength]);
    replica.advance(ready);
    expect(replica.status()).toMatchObject({
      commitIndex: 10,
      compactedIndex: 10,
      appliedIndex: 10,
    });
    expect(replica.stats()).toMatchObject({ snapshotsInstalled: 1, snapshotsCorrupt: 0 });
  });

  it("discards a reassembled snapshot whose checksum does not match and asks again from 0", () => {
    const replica = follower();
    const parts = chunks(snapshot(10, CHUNK + 1)).map((c) => ({ ...c, checksum: c.checksum ^ 1 }));
    for (const part of parts) replica.step(part);
    const messages = drain(replica);
    expect(acks(messages)).toEqual([CHUNK, 0]);
    expect(replica.status().commitIndex).toBe(2);
    expect(replica.latestSnapshot()).toBeUndefined();
    expect(replica.stats().snapshotsCorrupt).toBe(1);
  });

  it("tells the sender it is done when it already holds everything the snapshot covers", () => {
    const replica = follower();
    const [first] = chunks(snapshot(2, 3 * CHUNK));
    if (!first) throw new Error("chunk");
    replica.step(first);
    expect(acks(drain(replica))).toEqual([3 * CHUNK]);
    expect(replica.stats().snapshotsInstalled).toBe(0);
  });

  it("keeps the leader's transfer when another replica starts sending its own", () => {
    const replica = follower(); // follows replica 1
    const [fromLeader] = chunks(snapshot(10, 2 * CHUNK));
    const [other] = chunks(snapshot(12, 2 * CHUNK), 3 * 1024 + 3).map((c) => ({ ...c, from: 3 }));
    if (!fromLeader || !other) throw new Error("chunks");
    replica.step(fromLeader);
    replica.step(other);
    expect(acks(drain(replica))).toEqual([CHUNK]);
  });
});

describe("Replica: a new leader ends the old leader's transfer", () => {
  it("drops the partial copy when it adopts another leader", () => {
    const replica = follower(); // follows replica 1
    const [a, b] = chunks(snapshot(10, 3 * CHUNK));
    if (!a || !b) throw new Error("chunks");
    replica.step(a);
    replica.step({ type: "heartbeat", from: 3, to: 2, ballot: 3 * 1024 + 3, commitIndex: 2 });
    replica.step(b);
    expect(acks(drain(replica))).toEqual([CHUNK, 0]);
  });
});

describe("Replica: reassembly from two senders that are not the leader", () => {
  it("keeps the progress made with one instead of restarting for the other", () => {
    const replica = makeReplica(2, 3); // no leader known
    const fromOne = chunks(snapshot(10, 3 * CHUNK));
    const fromThree = chunks(snapshot(10, 3 * CHUNK), 1027).map((c) => ({ ...c, from: 3 }));
    const [a1, b1] = fromOne;
    const [a3] = fromThree;
    const [newer] = chunks(snapshot(11, 3 * CHUNK), 1027).map((c) => ({ ...c, from: 3 }));
    if (!a1 || !b1 || !a3 || !newer) throw new Error("chunks");
    replica.step(a1);
    replica.step(a3);
    replica.step(b1);
    expect(acks(drain(replica))).toEqual([CHUNK, 2 * CHUNK]);
    // A newer snapshot does replace it.
    replica.step(newer);
    expect(drain(replica)).toMatchObject([
      { type: "snapshotAck", to: 3, index: 11, offset: CHUNK },
    ]);
  });
});

describe("Replica: sending a snapshot", () => {
  it("a leader sends one chunk at a time, the next on each ack, and resends on a timer", () => {
    const r = leader();
    const snap: Snapshot = { index: 3, ballot: r.promisedBallot(), data: bytes(2 * CHUNK + 1) };
    r.compact(snap, 3);
    const ballot = r.promisedBallot();
    const sent = (messages: Message[]) =>
      messages.flatMap((m) => (m.type === "installSnapshot" && m.to === 3 ? [m.offset] : []));
    r.step({ type: "status", from: 3, to: 1, ballot, commitIndex: 0, lastIndex: 0 });
    expect(sent(drain(r))).toEqual([0]);
    // More replies and heartbeats while the chunk is in flight start nothing new.
    r.step({ type: "status", from: 3, to: 1, ballot, commitIndex: 0, lastIndex: 0 });
    r.tick();
    r.tick();
    expect(sent(drain(r))).toEqual([]);
    r.step({ type: "snapshotAck", from: 3, to: 1, ballot, index: 3, offset: CHUNK });
    expect(sent(drain(r))).toEqual([CHUNK]);
    // No ack: after snapshotRetransmitTicks the same chunk goes again.
    const resent: number[] = [];
    for (let t = 0; t < TEST_OPTIONS.snapshotRetransmitTicks; t += 1) {
      r.tick();
      resent.push(...sent(drain(r)));
    }
    expect(resent).toEqual([CHUNK]);
    expect(r.stats()).toMatchObject({ snapshotChunksSent: 3, snapshotChunksRetransmitted: 1 });
    // The follower restarted and lost its partial copy: the transfer rewinds to what it holds.
    r.step({ type: "snapshotAck", from: 3, to: 1, ballot, index: 3, offset: 0 });
    expect(sent(drain(r))).toEqual([]);
    const rewound: number[] = [];
    for (let t = 0; t < TEST_OPTIONS.snapshotRetransmitTicks; t += 1) {
      r.tick();
      rewound.push(...sent(drain(r)));
    }
    expect(rewound).toEqual([0]);
    // A higher ballot ends the leadership and with it the transfer.
    r.step({ type: "nack", from: 2, to: 1, ballot: ballot + 1024 });
    drain(r);
    for (let t = 0; t < 3 * TEST_OPTIONS.snapshotRetransmitTicks; t += 1) {
      r.tick();
      expect(sent(drain(r))).toEqual([]);
    }
  });

  it("an acceptor answers a lagging candidate with chunks its acks pull, one per ack", () => {
    const snap = snapshot(20, 2 * CHUNK + 1);
    const acceptor = makeReplica(2, 3, {}, snap);
    acceptor.step({ type: "prepare", from: 1, to: 2, ballot: 1025, fromIndex: 5, commitIndex: 4 });
    const [first] = drain(acceptor);
    expect(first).toMatchObject({ type: "installSnapshot", to: 1, offset: 0, index: 20 });
    const promised = acceptor.promisedBallot();
    acceptor.step({
      type: "snapshotAck",
      from: 1,
      to: 2,
      ballot: promised,
      index: 20,
      offset: CHUNK,
    });
    expect(drain(acceptor)).toMatchObject([{ type: "installSnapshot", offset: CHUNK }]);
    // A duplicate of that ack does not start a second stream; the next one pulls the next chunk.
    const ack = { type: "snapshotAck", from: 1, to: 2, ballot: promised, index: 20 } as const;
    acceptor.step({ ...ack, offset: CHUNK });
    expect(drain(acceptor)).toEqual([]);
    acceptor.step({ ...ack, offset: 2 * CHUNK });
    expect(drain(acceptor)).toMatchObject([
      { type: "installSnapshot", offset: 2 * CHUNK, last: true },
    ]);
    // An ack for another snapshot or echoing another ballot pulls nothing.
    acceptor.step({
      type: "snapshotAck",
      from: 1,
      to: 2,
      ballot: promised,
      index: 19,
      offset: CHUNK,
    });
    acceptor.step({
      type: "snapshotAck",
      from: 1,
      to: 2,
      ballot: 9 * 1024 + 3,
      index: 20,
      offset: 0,
    });
    expect(drain(acceptor)).toEqual([]);
  });
});
