import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MemoryStore } from "../../../host/consensus/storage/memory.js";
import type { PersistBatch, PersistedState } from "../../../host/consensus/storage/storage.js";
import { CrashFs } from "../../../host/consensus/storage/wal/crash-fs.js";
import { WalStorage } from "../../../host/consensus/storage/wal/wal-storage.js";
import { walEntry } from "./wal.helpers.js";

const DIR = "/replica/wal";

/** One step of a run; numbers are resolved against the current state so every call is valid. */
type Step =
  | {
      kind: "persist";
      from: number;
      count: number;
      round: number;
      commit: boolean;
      snapshotAt: number | undefined;
    }
  | { kind: "compact"; at: number; keep: number }
  | { kind: "crash"; tornFraction: number }
  | { kind: "fail"; afterOps: number; tornFraction: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("persist" as const),
      from: fc.nat(3),
      count: fc.integer({ min: 0, max: 6 }),
      round: fc.integer({ min: 1, max: 4 }),
      commit: fc.boolean(),
      snapshotAt: fc.option(fc.integer({ min: -2, max: 4 }), { nil: undefined, freq: 8 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("compact" as const), at: fc.nat(8), keep: fc.nat(4) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("crash" as const),
      tornFraction: fc.double({ min: 0, max: 1 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("fail" as const),
      afterOps: fc.nat(6),
      tornFraction: fc.double({ min: 0, max: 1 }),
    }),
  },
);

type Operation = (store: MemoryStore | WalStorage) => unknown;

/** Turns a step into a storage call that is valid for `model` (the acknowledged state). */
function operation(model: MemoryStore, s: Step & { kind: "persist" | "compact" }): Operation {
  const state = model.load();
  const last = state.compactedIndex + state.entries.length;
  if (s.kind === "compact") {
    const index = Math.max(1, last - (s.at % 8));
    const snapshot = { index, ballot: 1025, data: new Uint8Array([index % 256, 9]) };
    const through = Math.max(0, index - s.keep);
    return (store) => store.compact(snapshot, through);
  }
  let base = Math.max(state.compactedIndex, last - s.from);
  let snapshot: PersistBatch["snapshot"];
  if (s.snapshotAt !== undefined) {
    const index = Math.max(1, last + s.snapshotAt);
    snapshot = { index, ballot: 1025 + s.round * 1024, data: new Uint8Array([index % 256]) };
    base = Math.max(base, index);
  }
  const entries = Array.from({ length: s.count }, (_, i) =>
    walEntry(base + 1 + i, 1 + s.round * 1024),
  );
  const top = entries.length > 0 ? base + entries.length : base;
  const batch: PersistBatch = {
    hardState: s.commit ? { promisedBallot: 1 + s.round * 1024, commitIndex: top } : undefined,
    snapshot,
    entries,
  };
  return (store) => store.persist(batch);
}

function expectState(actual: PersistedState, expected: PersistedState): void {
  expect(actual.hardState).toEqual(expected.hardState);
  expect(actual.compactedIndex).toBe(expected.compactedIndex);
  expect(actual.snapshot).toEqual(expected.snapshot);
  expect(actual.entries).toEqual(expected.entries);
}

/**
 * Whether `op` on `model` is a batch that only raises the commit index: the WAL writes it without
 * an fdatasync (as etcd's MustSync), so a crash before the next batch may lose it.
 */
function commitOnly(model: MemoryStore, s: Step): boolean {
  if (s.kind !== "persist" || !s.commit || s.snapshotAt !== undefined || s.count > 0) return false;
  return model.load().hardState.promisedBallot === 1 + s.round * 1024;
}

/** The candidate (acknowledged states, newest first) that `loaded` equals; asserts there is one. */
function matching(loaded: PersistedState, candidates: readonly MemoryStore[]): MemoryStore {
  const hit = candidates.find((candidate) => {
    const state = candidate.load();
    return JSON.stringify(state) === JSON.stringify(loaded);
  });
  const chosen = hit ?? (candidates[0] as MemoryStore);
  expectState(loaded, chosen.load());
  return chosen;
}

function tornPolicy(fraction: number) {
  return (_path: string, unsyncedBytes: number) => Math.floor(unsyncedBytes * fraction);
}

/** Found by a CI run: a compaction that changes nothing after an unsynced commit-only batch. */
const REGRESSION_1: Step[] = [
  { kind: "persist", from: 0, count: 1, round: 1, commit: false, snapshotAt: 0 },
  { kind: "persist", from: 1, count: 0, round: 2, commit: true, snapshotAt: undefined },
  { kind: "persist", from: 0, count: 0, round: 2, commit: true, snapshotAt: undefined },
  { kind: "compact", at: 1, keep: 0 },
];

describe("WalStorage under random crashes", () => {
  it("after any crash, holds every acknowledged batch and the failed one whole or not at all", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
        let fs = new CrashFs();
        let wal = new WalStorage({ dir: DIR, fs, segmentBytes: 1024 });
        await wal.load();
        let model = new MemoryStore();
        // The acknowledged state before an unsynced commit-only batch at the tail, if there is one.
        let beforeUnsynced: MemoryStore | undefined;
        const candidates = (): MemoryStore[] =>
          beforeUnsynced === undefined ? [model] : [model, beforeUnsynced];
        for (const s of steps) {
          if (s.kind === "crash") {
            fs = fs.crash(tornPolicy(s.tornFraction));
            wal = new WalStorage({ dir: DIR, fs, segmentBytes: 1024 });
            model = matching(await wal.load(), candidates());
            beforeUnsynced = undefined;
            continue;
          }
          if (s.kind !== "fail") {
            const op = operation(model, s);
            // A second unsynced batch in a row syncs both, so only the newest can be lost.
            const unsynced = commitOnly(model, s) && beforeUnsynced === undefined;
            const before = model.clone();
            await op(wal);
            op(model);
            // A call that changes nothing writes nothing (the WAL returns early), so it syncs
            // nothing either: an unsynced batch before it stays the only one that may be lost.
            if (JSON.stringify(before.load()) === JSON.stringify(model.load())) continue;
            beforeUnsynced = unsynced ? before : undefined;
            continue;
          }
          // The next persist dies after `afterOps` file-system calls: power fails, then the call
          // that was running rejects.
          const op = operation(model, {
            kind: "persist",
            from: 1,
            count: 2,
            round: 4,
            commit: true,
            snapshotAt: undefined,
          });
          let remaining = s.afterOps;
          let crashed: CrashFs | undefined;
          fs.fault = () => {
            if (crashed === undefined && remaining-- === 0) {
              crashed = fs.crash(tornPolicy(s.tornFraction));
              return "EIO";
            }
            return undefined;
          };
          let failed = false;
          try {
            await op(wal);
          } catch {
            failed = true;
          }
          fs.fault = undefined;
          const after = model.clone();
          op(after);
          if (!failed) {
            model = after;
            beforeUnsynced = undefined;
            continue;
          }
          expect(wal.halted).toBe(true);
          fs = crashed as CrashFs;
          wal = new WalStorage({ dir: DIR, fs, segmentBytes: 1024 });
          // The failed batch is there whole or not at all (and without it, an unsynced
          // commit-only batch before it may be gone too).
          model = matching(await wal.load(), [after, ...candidates()]);
          beforeUnsynced = undefined;
        }
        fs = fs.crash();
        matching(await new WalStorage({ dir: DIR, fs, segmentBytes: 1024 }).load(), candidates());
      }),
      { numRuns: 60, examples: [[REGRESSION_1]] },
    );
  });
});
