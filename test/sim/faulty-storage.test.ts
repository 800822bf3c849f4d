import { describe, expect, it } from "vitest";
import type { Entry } from "../../host/consensus/core/entry.js";
import { ConsensusError } from "../../host/consensus/core/errors.js";
import type { ConsensusStorage } from "../../host/consensus/storage/storage.js";
import { runStorageContract } from "../unit/consensus/storage.contract.js";
import { type DiskProfile, FaultyStorage, PERFECT_DISK } from "./faulty-storage.js";

const entry = (index: number): Entry => ({
  index,
  ballot: 1025,
  value: {
    kind: "batch",
    commands: [{ clientId: "c", requestId: index, payload: new Uint8Array([index]) }],
  },
});

const write = (index: number) => ({
  hardState: undefined,
  snapshot: undefined,
  entries: [entry(index)],
});

/** A disk whose clock the test moves. */
function disk(profile: Partial<DiskProfile> = {}, seed = 1) {
  let now = 0;
  const storage = new FaultyStorage(() => now, seed, { ...PERFECT_DISK, ...profile });
  return {
    storage,
    at(tick: number) {
      now = tick;
      return storage.advance(tick);
    },
  };
}

/** The simulated disk completes every write at once: it must meet the storage contract too. */
function immediate(storage: FaultyStorage): ConsensusStorage {
  return {
    load: () => storage.load(),
    persist: (batch) => {
      const done = storage.persist(batch);
      storage.advance(0);
      return done;
    },
    compact: (snapshot, through) => {
      const done = storage.compact(snapshot, through);
      storage.advance(0);
      return done;
    },
    close: () => storage.close(),
  };
}

const wrapped = new WeakMap<ConsensusStorage, FaultyStorage>();
runStorageContract("FaultyStorage (simulated disk)", {
  open: async () => {
    const storage = new FaultyStorage(() => 0, 7);
    const adapter = immediate(storage);
    wrapped.set(adapter, storage);
    return adapter;
  },
  reopen: async (adapter) => {
    const storage = wrapped.get(adapter);
    if (storage === undefined) throw new Error("unknown adapter");
    storage.crash();
    const again = immediate(storage);
    wrapped.set(again, storage);
    return again;
  },
});

describe("FaultyStorage", () => {
  it("makes a write durable, and resolves it, only when its latency has passed", async () => {
    const { storage, at } = disk({ writeLatencyTicks: 2 });
    let resolved = false;
    const done = storage.persist(write(1)).then(() => {
      resolved = true;
    });
    expect(at(1)).toBe(false);
    await Promise.resolve();
    expect(resolved).toBe(false);
    expect(at(2)).toBe(true);
    await done;
    expect((await storage.load()).entries).toEqual([entry(1)]);
  });

  it("loses the write in flight on a crash, or leaves a torn record that load drops", async () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const { storage, at } = disk({ writeLatencyTicks: 5, tornWrites: true }, seed);
      void storage.persist(write(1));
      at(5);
      void storage.persist(write(2));
      storage.crash();
      expect((await storage.load()).entries).toEqual([entry(1)]);
      void storage.persist(write(2));
      at(10);
      expect((await storage.load()).entries).toEqual([entry(1), entry(2)]);
    }
  });

  it("refuses to load a rotted record, until repaired", async () => {
    const { storage, at } = disk({ corruptAtTick: 3 });
    let crashed = 0;
    storage.onCrash = () => {
      crashed += 1;
    };
    void storage.persist(write(1));
    at(1);
    at(3);
    expect(crashed).toBe(1);
    expect(storage.isCorrupted()).toBe(true);
    const error = await storage.load().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConsensusError);
    expect((error as ConsensusError).code).toBe("StorageFailure");
    expect((error as ConsensusError).message).toContain("checksum mismatch");
    storage.repair();
    expect((await storage.load()).entries).toEqual([entry(1)]);
  });

  it("fails writes with StorageFailure at its failure rate", async () => {
    const { storage, at } = disk({ failureRate: 1 });
    const failed = storage.persist(write(1)).catch((caught: unknown) => caught);
    at(0);
    expect(((await failed) as ConsensusError).code).toBe("StorageFailure");
    expect(storage.events.failures).toBe(1);
  });

  it("asserts that at most one call is in flight", () => {
    const { storage } = disk({ writeLatencyTicks: 1 });
    void storage.persist(write(1));
    expect(() => storage.persist(write(2))).toThrow(/in flight/);
  });
});
