import { describe, expect, it } from "vitest";
import type { Entry } from "../../../host/consensus/core/entry.js";
import { ConsensusError } from "../../../host/consensus/core/errors.js";
import type { ConsensusStorage } from "../../../host/consensus/storage/storage.js";

const entry = (index: number, ballot = 1025): Entry => ({
  index,
  ballot,
  value: {
    kind: "batch",
    commands: [{ clientId: "c", requestId: index, payload: new Uint8Array([index % 256]) }],
  },
});

/**
 * The contract every {@link ConsensusStorage} adapter must meet (see the interface comment).
 * `open` returns a fresh, empty storage; `reopen` returns the storage as a restarted process
 * would see it (for the memory adapter, the same object).
 */
export function storageContract(
  name: string,
  open: () => ConsensusStorage,
  reopen: (storage: ConsensusStorage) => ConsensusStorage,
): void {
  describe(`${name} (storage contract)`, () => {
    it("starts empty", () => {
      const state = open().load();
      expect(state.hardState).toEqual({ promisedBallot: 0, commitIndex: 0 });
      expect(state.snapshot).toBeUndefined();
      expect(state.compactedIndex).toBe(0);
      expect(state.entries).toEqual([]);
    });

    it("returns what was persisted after a restart", () => {
      const storage = open();
      storage.persist({
        hardState: { promisedBallot: 2049, commitIndex: 2 },
        snapshot: undefined,
        entries: [entry(1), entry(2), entry(3)],
      });
      const state = reopen(storage).load();
      expect(state.hardState).toEqual({ promisedBallot: 2049, commitIndex: 2 });
      expect(state.entries).toEqual([entry(1), entry(2), entry(3)]);
    });

    it("replaces a slot and keeps the slots after it", () => {
      const storage = open();
      storage.persist({
        hardState: undefined,
        snapshot: undefined,
        entries: [1, 2, 3].map((i) => entry(i)),
      });
      storage.persist({ hardState: undefined, snapshot: undefined, entries: [entry(2, 4097)] });
      expect(storage.load().entries).toEqual([entry(1), entry(2, 4097), entry(3)]);
    });

    it("rejects a batch that would leave a hole, atomically", () => {
      const storage = open();
      storage.persist({ hardState: undefined, snapshot: undefined, entries: [entry(1)] });
      let error: unknown;
      try {
        storage.persist({
          hardState: { promisedBallot: 9999, commitIndex: 1 },
          snapshot: undefined,
          entries: [entry(2), entry(4)],
        });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConsensusError);
      expect((error as ConsensusError).code).toBe("StorageFailure");
      const state = storage.load();
      expect(state.entries).toEqual([entry(1)]);
      expect(state.hardState.promisedBallot).toBe(0);
    });

    it("compacts through an index and keeps the snapshot", () => {
      const storage = open();
      storage.persist({
        hardState: undefined,
        snapshot: undefined,
        entries: [1, 2, 3, 4].map((i) => entry(i)),
      });
      const snapshot = { index: 3, ballot: 1025, data: new Uint8Array([7]) };
      storage.compact(snapshot, 2);
      const state = reopen(storage).load();
      expect(state.snapshot).toEqual(snapshot);
      expect(state.compactedIndex).toBe(2);
      expect(state.entries).toEqual([entry(3), entry(4)]);
      expect(() => storage.compact(snapshot, 4)).toThrow(ConsensusError);
    });

    it("installs a received snapshot, dropping the slots it covers", () => {
      const storage = open();
      storage.persist({ hardState: undefined, snapshot: undefined, entries: [entry(1)] });
      const snapshot = { index: 10, ballot: 1025, data: new Uint8Array([1]) };
      storage.persist({
        hardState: { promisedBallot: 1025, commitIndex: 10 },
        snapshot,
        entries: [entry(11)],
      });
      const state = storage.load();
      expect(state.snapshot).toEqual(snapshot);
      expect(state.compactedIndex).toBe(10);
      expect(state.entries).toEqual([entry(11)]);
    });

    it("ignores a snapshot older than the stored one", () => {
      const storage = open();
      const newer = { index: 5, ballot: 1025, data: new Uint8Array([5]) };
      storage.persist({ hardState: undefined, snapshot: newer, entries: [] });
      storage.compact({ index: 3, ballot: 1025, data: new Uint8Array([3]) }, 3);
      expect(storage.load().snapshot).toEqual(newer);
    });
  });
}
