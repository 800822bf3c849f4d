import { afterEach, describe, expect, it } from "vitest";
import type { Entry, Snapshot } from "../../../host/consensus/core/entry.js";
import { ConsensusError } from "../../../host/consensus/core/errors.js";
import type { ConsensusStorage } from "../../../host/consensus/storage/storage.js";

/** An entry of slot `index` accepted at `ballot`, with a payload that tells slots apart. */
export const contractEntry = (index: number, ballot = 1025): Entry => ({
  index,
  ballot,
  value: {
    kind: "batch",
    commands: [{ clientId: "c", requestId: index, payload: new Uint8Array([index % 256, 7]) }],
  },
});

const entry = contractEntry;

/**
 * One adapter under test. `open()` gives a fresh, empty storage. `reopen(storage)` simulates a
 * crash and a restart: it abandons `storage` without closing it (as a killed process would) and
 * returns the same durable state opened again. `cleanup()` removes whatever the factory created.
 */
export interface StorageFactory {
  open(): Promise<ConsensusStorage>;
  reopen(storage: ConsensusStorage): Promise<ConsensusStorage>;
  cleanup?(): Promise<void>;
}

async function rejection(promise: Promise<unknown>): Promise<ConsensusError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ConsensusError);
    return error as ConsensusError;
  }
  throw new Error("expected a rejection");
}

/**
 * The contract every {@link ConsensusStorage} adapter must meet (see the interface comment):
 * `runStorageContract("WalStorage", factory)` in the adapter's own test file runs it.
 */
export function runStorageContract(name: string, factory: StorageFactory): void {
  describe(`${name} (storage contract)`, () => {
    afterEach(async () => {
      await factory.cleanup?.();
    });

    it("starts empty", async () => {
      const state = await (await factory.open()).load();
      expect(state.hardState).toEqual({ promisedBallot: 0, commitIndex: 0 });
      expect(state.snapshot).toBeUndefined();
      expect(state.compactedIndex).toBe(0);
      expect(state.entries).toEqual([]);
    });

    it("returns what was persisted after a crash and restart", async () => {
      const storage = await factory.open();
      await storage.persist({
        hardState: { promisedBallot: 2049, commitIndex: 2 },
        snapshot: undefined,
        entries: [entry(1), entry(2), entry(3)],
      });
      const state = await (await factory.reopen(storage)).load();
      expect(state.hardState).toEqual({ promisedBallot: 2049, commitIndex: 2 });
      expect(state.entries).toEqual([entry(1), entry(2), entry(3)]);
    });

    it("keeps every resolved batch, in order, across several restarts", async () => {
      let storage = await factory.open();
      for (let round = 1; round <= 3; round += 1) {
        await storage.persist({
          hardState: { promisedBallot: 1024 * round + 1, commitIndex: round },
          snapshot: undefined,
          entries: [entry(round)],
        });
        storage = await factory.reopen(storage);
      }
      const state = await storage.load();
      expect(state.hardState).toEqual({ promisedBallot: 3073, commitIndex: 3 });
      expect(state.entries).toEqual([entry(1), entry(2), entry(3)]);
    });

    it("writes a batch with only a hard state, or only entries", async () => {
      const storage = await factory.open();
      await storage.persist({
        hardState: { promisedBallot: 1025, commitIndex: 0 },
        snapshot: undefined,
        entries: [],
      });
      await storage.persist({ hardState: undefined, snapshot: undefined, entries: [entry(1)] });
      const state = await (await factory.reopen(storage)).load();
      expect(state.hardState).toEqual({ promisedBallot: 1025, commitIndex: 0 });
      expect(state.entries).toEqual([entry(1)]);
    });

    it("replaces a slot and keeps the slots after it", async () => {
      const storage = await factory.open();
      await storage.persist({
        hardState: undefined,
        snapshot: undefined,
        entries: [1, 2, 3].map((i) => entry(i)),
      });
      await storage.persist({
        hardState: undefined,
        snapshot: undefined,
        entries: [entry(2, 4097)],
      });
      const state = await (await factory.reopen(storage)).load();
      expect(state.entries).toEqual([entry(1), entry(2, 4097), entry(3)]);
    });

    it("rejects a batch that would leave a hole with StorageFailure, atomically", async () => {
      const storage = await factory.open();
      await storage.persist({ hardState: undefined, snapshot: undefined, entries: [entry(1)] });
      const error = await rejection(
        storage.persist({
          hardState: { promisedBallot: 9999, commitIndex: 1 },
          snapshot: undefined,
          entries: [entry(2), entry(4)],
        }),
      );
      expect(error.code).toBe("StorageFailure");
      const state = await (await factory.reopen(storage)).load();
      expect(state.entries).toEqual([entry(1)]);
      expect(state.hardState.promisedBallot).toBe(0);
    });

    it("rejects an entry at or below the compacted index", async () => {
      const storage = await factory.open();
      await storage.persist({
        hardState: undefined,
        snapshot: undefined,
        entries: [1, 2, 3].map((i) => entry(i)),
      });
      await storage.compact({ index: 2, ballot: 1025, data: new Uint8Array([2]) }, 2);
      const error = await rejection(
        storage.persist({ hardState: undefined, snapshot: undefined, entries: [entry(2, 9)] }),
      );
      expect(error.code).toBe("StorageFailure");
    });

    it("compacts through an index and keeps the snapshot across a restart", async () => {
      const storage = await factory.open();
      await storage.persist({
        hardState: undefined,
        snapshot: undefined,
        entries: [1, 2, 3, 4].map((i) => entry(i)),
      });
      const snapshot: Snapshot = { index: 3, ballot: 1025, data: new Uint8Array([7, 8, 9]) };
      await storage.compact(snapshot, 2);
      const reopened = await factory.reopen(storage);
      const state = await reopened.load();
      expect(state.snapshot).toEqual(snapshot);
      expect(state.compactedIndex).toBe(2);
      expect(state.entries).toEqual([entry(3), entry(4)]);
      expect((await rejection(reopened.compact(snapshot, 4))).code).toBe("StorageFailure");
    });

    it("appends after a compaction and a restart", async () => {
      const storage = await factory.open();
      await storage.persist({
        hardState: undefined,
        snapshot: undefined,
        entries: [1, 2].map((i) => entry(i)),
      });
      await storage.compact({ index: 2, ballot: 1025, data: new Uint8Array([2]) }, 2);
      const reopened = await factory.reopen(storage);
      await reopened.persist({ hardState: undefined, snapshot: undefined, entries: [entry(3)] });
      const state = await (await factory.reopen(reopened)).load();
      expect(state.compactedIndex).toBe(2);
      expect(state.entries).toEqual([entry(3)]);
    });

    it("installs a received snapshot, dropping the slots it covers", async () => {
      const storage = await factory.open();
      await storage.persist({ hardState: undefined, snapshot: undefined, entries: [entry(1)] });
      const snapshot: Snapshot = { index: 10, ballot: 1025, data: new Uint8Array([1]) };
      await storage.persist({
        hardState: { promisedBallot: 1025, commitIndex: 10 },
        snapshot,
        entries: [entry(11)],
      });
      const state = await (await factory.reopen(storage)).load();
      expect(state.snapshot).toEqual(snapshot);
      expect(state.compactedIndex).toBe(10);
      expect(state.entries).toEqual([entry(11)]);
      expect(state.hardState).toEqual({ promisedBallot: 1025, commitIndex: 10 });
    });

    it("ignores a snapshot older than the stored one", async () => {
      const storage = await factory.open();
      const newer: Snapshot = { index: 5, ballot: 1025, data: new Uint8Array([5]) };
      await storage.persist({ hardState: undefined, snapshot: newer, entries: [] });
      await storage.compact({ index: 3, ballot: 1025, data: new Uint8Array([3]) }, 3);
      expect((await (await factory.reopen(storage)).load()).snapshot).toEqual(newer);
    });

    it("keeps payload bytes exactly, including empty and large ones", async () => {
      const storage = await factory.open();
      const large = new Uint8Array(100_000).map((_, i) => (i * 31) % 256);
      const entries: Entry[] = [
        { index: 1, ballot: 1025, value: { kind: "noop" } },
        {
          index: 2,
          ballot: 1025,
          value: {
            kind: "batch",
            commands: [
              { clientId: "a", requestId: 1, payload: new Uint8Array() },
              { clientId: "b\u00e9", requestId: 2 ** 40, payload: large },
            ],
          },
        },
      ];
      await storage.persist({ hardState: undefined, snapshot: undefined, entries });
      expect((await (await factory.reopen(storage)).load()).entries).toEqual(entries);
    });

    it("closes", async () => {
      const storage = await factory.open();
      await storage.persist({ hardState: undefined, snapshot: undefined, entries: [entry(1)] });
      await storage.close();
    });
  });
}
