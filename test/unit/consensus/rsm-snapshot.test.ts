import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Entry } from "../../../host/consensus/core/entry.js";
import { ConsensusError } from "../../../host/consensus/core/errors.js";
import { MultiPaxosEngine } from "../../../host/consensus/engine/multi-paxos-engine.js";
import { seededRng } from "../../../host/consensus/engine/rng.js";
import { ManualTickSource } from "../../../host/consensus/engine/tick-source.js";
import {
  decodeRsmSnapshot,
  encodeRsmSnapshot,
  RSM_SNAPSHOT_VERSION,
  type RsmSnapshot,
  SnapshotDecodeError,
} from "../../../host/consensus/rsm-snapshot.js";
import { ReplicatedStateMachine } from "../../../host/consensus/statemachine.js";
import { MemoryStorage } from "../../../host/consensus/storage/memory.js";
import { MemoryNetwork } from "../../../host/consensus/transport/memory.js";
import { AppendLog, bytes, clusterConfig } from "./helpers.js";

const clientId = fc
  .string({ minLength: 1, maxLength: 12, unit: "grapheme" })
  .filter((id) => !id.startsWith("\u0000"));
const index = fc.nat({ max: Number.MAX_SAFE_INTEGER });

const snapshotArbitrary: fc.Arbitrary<RsmSnapshot> = fc.record({
  applied: index,
  sessions: fc.record({
    sessions: fc.uniqueArray(
      fc.record({
        clientId,
        lastActiveIndex: index,
        highestRequestId: index,
        answers: fc.uniqueArray(fc.tuple(index, index, fc.uint8Array({ maxLength: 16 })), {
          maxLength: 4,
          selector: ([requestId]) => requestId,
        }),
      }),
      { maxLength: 5, selector: (session) => session.clientId },
    ),
    expired: fc.uniqueArray(fc.tuple(clientId, index), {
      maxLength: 4,
      selector: ([id]) => id,
    }),
  }),
  state: fc.uint8Array({ maxLength: 64 }),
});

const slot = (at: number, ...commands: [string, number][]): Entry => ({
  index: at,
  ballot: 1025,
  value: {
    kind: "batch",
    commands: commands.map(([id, requestId]) => ({
      clientId: id,
      requestId,
      payload: bytes(`${id}${requestId}`),
    })),
  },
});

function decodeError(data: Uint8Array): SnapshotDecodeError | undefined {
  try {
    decodeRsmSnapshot(data);
    return undefined;
  } catch (error) {
    if (error instanceof SnapshotDecodeError) return error;
    throw error;
  }
}

describe("RSM snapshot encoding", () => {
  it("round-trips every snapshot and re-encodes a decoded one to the same bytes (property)", () => {
    fc.assert(
      fc.property(snapshotArbitrary, (snapshot) => {
        const encoded = encodeRsmSnapshot(snapshot);
        const decoded = decodeRsmSnapshot(encoded);
        expect(decoded).toEqual(snapshot);
        expect(encodeRsmSnapshot(decoded)).toEqual(encoded);
      }),
      { numRuns: 300 },
    );
  });

  it("carries a live session table exactly: restored replicas answer like the original (property)", () => {
    const command = fc.tuple(
      fc.constantFrom("", "a", "b", "c", "d"),
      fc.integer({ min: 1, max: 6 }),
    );
    fc.assert(
      fc.property(
        fc.array(fc.array(command, { maxLength: 5 }), { maxLength: 10 }),
        fc.array(fc.array(command, { maxLength: 5 }), { maxLength: 4 }),
        (before, after) => {
          const options = {
            maxClients: 3,
            requestWindow: 3,
            sessionTimeoutSlots: 5,
            maxExpiredClients: 2,
          };
          const original = new ReplicatedStateMachine(new AppendLog(), options);
          before.forEach((commands, i) => {
            original.applyEntry(slot(i + 1, ...commands));
          });
          const snapshot = original.snapshot();
          const restored = new ReplicatedStateMachine(new AppendLog(), options);
          restored.restore(snapshot);
          expect(restored.snapshot()).toEqual(snapshot);
          after.forEach((commands, i) => {
            const entry = slot(before.length + i + 1, ...commands);
            expect(restored.applyEntry(entry)).toEqual(original.applyEntry(entry));
          });
          expect(restored.snapshot()).toEqual(original.snapshot());
        },
      ),
      { numRuns: 200 },
    );
  });

  it("refuses garbage with a typed error, never another exception (property)", () => {
    const header = new Uint8Array([0x43, 0x52, 0x53, 0x4d, RSM_SNAPSHOT_VERSION]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (random, withHeader) => {
        const data = withHeader ? new Uint8Array([...header, ...random]) : random;
        const error = decodeError(data);
        if (error === undefined) {
          // Whatever decodes is a snapshot this build could have written: it re-encodes exactly.
          expect(encodeRsmSnapshot(decodeRsmSnapshot(data))).toEqual(data);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("names what is wrong: the old JSON format, another version, a truncated or padded snapshot", () => {
    const valid = encodeRsmSnapshot({
      applied: 7,
      sessions: {
        sessions: [
          { clientId: "a", lastActiveIndex: 7, highestRequestId: 2, answers: [[2, 7, bytes("r")]] },
        ],
        expired: [["b", 3]],
      },
      state: bytes("state"),
    });
    const oldFormat = bytes(
      JSON.stringify({ applied: 1, sessions: { sessions: [], expired: [] }, state: "" }),
    );
    expect(decodeError(oldFormat)?.code).toBe("BadMagic");
    const nextVersion = valid.slice();
    nextVersion[4] = RSM_SNAPSHOT_VERSION + 1;
    expect(decodeError(nextVersion)?.code).toBe("UnsupportedVersion");
    for (let length = 5; length < valid.byteLength; length += 1) {
      expect(decodeError(valid.subarray(0, length))?.code).toBe("Malformed");
    }
    expect(decodeError(new Uint8Array([...valid, 0]))?.code).toBe("Malformed");
    expect(decodeError(valid)).toBeUndefined();
  });

  it("refuses an impossible session table (a repeated or anonymous client id)", () => {
    const session = { clientId: "a", lastActiveIndex: 1, highestRequestId: 1, answers: [] };
    const twice = encodeRsmSnapshot({
      applied: 1,
      sessions: { sessions: [session, session], expired: [] },
      state: new Uint8Array(),
    });
    const rsm = new ReplicatedStateMachine(new AppendLog());
    rsm.applyEntry(slot(1, ["x", 1]));
    const before = rsm.snapshot();
    expect(() => rsm.restore(twice)).toThrow(SnapshotDecodeError);
    const anonymous = encodeRsmSnapshot({
      applied: 1,
      sessions: { sessions: [{ ...session, clientId: "\u0000n1" }], expired: [] },
      state: new Uint8Array(),
    });
    expect(() => rsm.restore(anonymous)).toThrow(SnapshotDecodeError);
    expect(() => rsm.restore(bytes("garbage"))).toThrow(SnapshotDecodeError);
    // Nothing changed.
    expect(rsm.snapshot()).toEqual(before);
    expect(rsm.appliedIndex()).toBe(1);
  });

  it("an engine refuses to start on a persisted snapshot it cannot read (StorageFailure)", async () => {
    const storage = new MemoryStorage();
    await storage.persist({
      hardState: { promisedBallot: 0, commitIndex: 3 },
      snapshot: { index: 3, ballot: 1025, data: bytes("not a snapshot") },
      entries: [],
    });
    const engine = new MultiPaxosEngine({
      nodeId: "n1",
      config: clusterConfig(1),
      storage,
      transport: new MemoryNetwork().endpoint(1),
      stateMachine: new AppendLog(),
      rng: seededRng(1),
      tickSource: new ManualTickSource(),
    });
    const started = engine.start();
    await expect(started).rejects.toThrow(ConsensusError);
    await expect(started).rejects.toMatchObject({ code: "StorageFailure" });
    expect(engine.haltReason()?.message).toContain("BadMagic");
  });
});
