import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConsensusError } from "../../../host/consensus/core/errors.js";
import type { PersistedState } from "../../../host/consensus/storage/storage.js";
import { CrashFs } from "../../../host/consensus/storage/wal/crash-fs.js";
import { WalCorruptionError } from "../../../host/consensus/storage/wal/errors.js";
import { FaultyFs } from "../../../host/consensus/storage/wal/fault-fs.js";
import { segmentName, snapshotName } from "../../../host/consensus/storage/wal/format.js";
import { LOCK_NAME, NodeWalFs } from "../../../host/consensus/storage/wal/fs.js";
import { WalStorage } from "../../../host/consensus/storage/wal/wal-storage.js";
import { entriesBatch, slots, useTempDirs, walEntry } from "./wal.helpers.js";

const tempDir = useTempDirs();
const DIR = "/wal";
const firstSegment = (dir: string) => join(dir, segmentName(1));

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

/** What a restarted process on `dir` loads; the instance is closed again (no handle leaks). */
async function loadAndClose(dir: string): Promise<PersistedState> {
  const wal = new WalStorage({ dir });
  try {
    return await wal.load();
  } finally {
    await wal.close();
  }
}

/** Writes slots 1..3 (batch A) and returns the segment's size before and after batch B (4..5). */
async function writeTwoBatches(dir: string): Promise<{ before: number; after: number }> {
  const wal = new WalStorage({ dir });
  await wal.load();
  await wal.persist(entriesBatch(slots(1, 3), 1));
  const before = (await stat(firstSegment(dir))).size;
  await wal.persist(entriesBatch(slots(4, 5), 3));
  const after = (await stat(firstSegment(dir))).size;
  await wal.close();
  return { before, after };
}

describe("WalStorage recovery", () => {
  it("drops a write torn at every byte of the last batch, and writes again after it", async () => {
    const dir = await tempDir();
    const { before, after } = await writeTwoBatches(dir);
    const full = await readFile(firstSegment(dir));
    for (let cut = before; cut < after; cut++) {
      await writeFile(firstSegment(dir), full.subarray(0, cut));
      const wal = new WalStorage({ dir });
      const state = await wal.load();
      expect(state.entries).toEqual(slots(1, 3));
      expect(state.hardState.commitIndex).toBe(1);
      expect(wal.lastRecovery?.truncatedBytes).toBe(cut - before);
      await wal.persist(entriesBatch([walEntry(4, 2049)], 2));
      await wal.close();
      const reopened = await loadAndClose(dir);
      expect(reopened.entries).toEqual([...slots(1, 3), walEntry(4, 2049)]);
      expect(reopened.hardState.commitIndex).toBe(2);
    }
  });

  it("treats a zero-filled tail as torn, and a checksum failure in the last record as torn", async () => {
    const fs = new CrashFs();
    const wal = new WalStorage({ dir: DIR, fs });
    await wal.load();
    await wal.persist(entriesBatch(slots(1, 2)));
    const before = await fs.size(firstSegment(DIR));
    await wal.persist(entriesBatch(slots(3, 4)));
    const bytes = fs.fileBytes(firstSegment(DIR));
    const original = bytes.slice();
    for (const zeroFrom of [before, before + 5, before + 20, bytes.length - 1]) {
      bytes.set(original);
      bytes.fill(0, zeroFrom);
      expect((await new WalStorage({ dir: DIR, fs }).load()).entries).toEqual(slots(1, 2));
    }
    bytes.set(original);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
    expect((await new WalStorage({ dir: DIR, fs }).load()).entries).toEqual(slots(1, 2));
  });

  it("refuses a corrupted record before the tail, naming the file and offset", async () => {
    const dir = await tempDir();
    const { before } = await writeTwoBatches(dir);
    const full = await readFile(firstSegment(dir));
    // Every byte of batch A's records: frame headers, checksums and bodies.
    const firstFrame = await emptySegmentBytes();
    for (let at = firstFrame; at < before; at += 7) {
      const damaged = Buffer.from(full);
      damaged[at] = (damaged[at] as number) ^ 0x40;
      await writeFile(firstSegment(dir), damaged);
      const error = await rejection(new WalStorage({ dir }).load());
      expect(error).toBeInstanceOf(WalCorruptionError);
      const corruption = error as WalCorruptionError;
      expect(corruption.code).toBe("StorageFailure");
      expect(corruption.reason).toBe("BadRecord");
      expect(corruption.file).toBe(firstSegment(dir));
      expect(corruption.offsetBytes).toBeGreaterThanOrEqual(firstFrame);
      expect(corruption.offsetBytes).toBeLessThanOrEqual(at);
      expect(corruption.message).toContain(
        `${firstSegment(dir)} at byte ${corruption.offsetBytes}`,
      );
    }
    // Nothing was repaired: the damaged file is left as it was for the operator.
    expect((await stat(firstSegment(dir))).size).toBe(full.length);
  });

  it("refuses a damaged segment header, a missing segment and a missing snapshot", async () => {
    const fs = new CrashFs();
    const wal = new WalStorage({ dir: DIR, fs, segmentBytes: 1024 });
    await wal.load();
    for (let i = 1; i <= 40; i += 4) {
      await wal.persist(entriesBatch(slots(i, i + 3)));
    }
    await wal.compact({ index: 10, ballot: 1025, data: new Uint8Array([1]) }, 2);
    const names = (await fs.readdir(DIR)).sort();
    expect(names.filter((n) => n.endsWith(".wal")).length).toBeGreaterThan(3);
    const header = fs.fileBytes(join(DIR, names[0] as string));
    header[9] = (header[9] as number) ^ 1;
    expect(await rejection(new WalStorage({ dir: DIR, fs }).load())).toMatchObject({
      reason: "BadSegmentHeader",
      file: join(DIR, names[0] as string),
      offsetBytes: 0,
    });
    header[9] = (header[9] as number) ^ 1;
    await fs.unlink(join(DIR, names[1] as string));
    expect(await rejection(new WalStorage({ dir: DIR, fs }).load())).toMatchObject({
      reason: "BadLog",
      file: join(DIR, names[1] as string),
    });
    const other = new CrashFs();
    const second = new WalStorage({ dir: DIR, fs: other });
    await second.compact({ index: 5, ballot: 1025, data: new Uint8Array([5]) }, 5);
    const snapshotBytes = other.fileBytes(join(DIR, snapshotName(5)));
    snapshotBytes[30] = (snapshotBytes[30] as number) ^ 1;
    expect(await rejection(new WalStorage({ dir: DIR, fs: other }).load())).toMatchObject({
      reason: "BadSnapshot",
      file: join(DIR, snapshotName(5)),
    });
    await other.unlink(join(DIR, snapshotName(5)));
    expect(await rejection(new WalStorage({ dir: DIR, fs: other }).load())).toMatchObject({
      reason: "BadSnapshot",
    });
  });

  it("repairs nothing when it refuses: a torn tail stays until the damage is dealt with", async () => {
    const fs = new CrashFs();
    const wal = new WalStorage({ dir: DIR, fs });
    await wal.load();
    await wal.compact({ index: 3, ballot: 1025, data: new Uint8Array([3]) }, 3);
    await wal.persist(entriesBatch(slots(4, 5)));
    const torn = fs.fileBytes(firstSegment(DIR)).length - 3;
    const handle = await fs.openWrite(firstSegment(DIR));
    await handle.truncate(torn);
    const snapshotFile = join(DIR, snapshotName(3));
    const snapshotBytes = await fs.readFile(snapshotFile);
    await fs.unlink(snapshotFile);
    await fs.create(join(DIR, "0000000000000002.wal.tmp"));
    expect(await rejection(new WalStorage({ dir: DIR, fs }).load())).toMatchObject({
      reason: "BadSnapshot",
    });
    expect(await fs.size(firstSegment(DIR))).toBe(torn);
    expect((await fs.readdir(DIR)).some((name) => name.endsWith(".tmp"))).toBe(true);
    // The operator restores the snapshot file: the next start repairs the tail and goes on.
    const restored = await fs.create(snapshotFile);
    await restored.write(snapshotBytes, 0);
    const restarted = new WalStorage({ dir: DIR, fs });
    expect((await restarted.load()).entries).toEqual([]);
    expect(restarted.lastRecovery?.truncatedBytes).toBeGreaterThan(0);
    expect((await fs.readdir(DIR)).some((name) => name.endsWith(".tmp"))).toBe(false);
  });

  it("recovers a batch whole or not at all after a crash between write and fsync", async () => {
    for (let kept = 0; kept < 10_000; kept++) {
      const fs = new CrashFs();
      const wal = new WalStorage({ dir: DIR, fs });
      await wal.load();
      await wal.persist(entriesBatch(slots(1, 2), 1));
      let unsynced = 0;
      let crashed: CrashFs | undefined;
      fs.fault = (op) => {
        if (op !== "datasync") {
          return undefined;
        }
        // Power fails after the write reached the page cache, before fdatasync.
        crashed = fs.crash((_, bytes) => {
          unsynced = bytes;
          return kept;
        });
        return "EIO";
      };
      const error = await rejection(wal.persist(entriesBatch([walEntry(3), walEntry(1, 2049)], 3)));
      expect((error as ConsensusError).code).toBe("StorageFailure");
      const restarted = new WalStorage({ dir: DIR, fs: crashed as CrashFs });
      const state = await restarted.load();
      const whole = kept >= unsynced;
      expect(state.entries).toEqual(
        whole ? [walEntry(1, 2049), walEntry(2), walEntry(3)] : slots(1, 2),
      );
      expect(state.hardState.commitIndex).toBe(whole ? 3 : 1);
      await restarted.persist(entriesBatch([walEntry(state.entries.length + 1)]));
      expect(
        (await new WalStorage({ dir: DIR, fs: crashed as CrashFs }).load()).entries.length,
      ).toBe(state.entries.length + 1);
      if (whole) {
        break;
      }
    }
  });

  it("loses nothing synced and nothing unsynced survives a crash without a torn write", async () => {
    const fs = new CrashFs();
    const wal = new WalStorage({ dir: DIR, fs, segmentBytes: 1024 });
    await wal.load();
    for (let i = 1; i <= 30; i++) {
      await wal.persist(entriesBatch([walEntry(i)], i - 1));
    }
    const state = await new WalStorage({ dir: DIR, fs: fs.crash() }).load();
    expect(state.entries).toEqual(slots(1, 30));
    expect(state.hardState.commitIndex).toBe(29);
  });

  it("writes a commit-index-only batch without fdatasync; the next batch or close syncs it", async () => {
    const fs = new CrashFs();
    const synced: number[] = [];
    const wal = new WalStorage({
      dir: DIR,
      fs,
      observer: { appended: (bytes) => synced.push(bytes) },
    });
    await wal.load();
    await wal.persist(entriesBatch(slots(1, 3), 1));
    await wal.persist(entriesBatch([], 3));
    expect(synced).toHaveLength(1);
    // A crash now may lose the raised commit index, never an entry or the ballot.
    const lost = await new WalStorage({ dir: DIR, fs: fs.crash() }).load();
    expect(lost.entries).toEqual(slots(1, 3));
    expect(lost.hardState).toEqual({ promisedBallot: 1025, commitIndex: 1 });
    // A second commit-only batch in a row syncs both: at most one unsynced batch at the tail.
    await wal.persist(entriesBatch([], 2));
    expect(synced).toHaveLength(2);
    expect((await new WalStorage({ dir: DIR, fs: fs.crash() }).load()).hardState.commitIndex).toBe(
      2,
    );
    // A new ballot is a promise: always synced.
    await wal.persist({
      hardState: { promisedBallot: 2049, commitIndex: 2 },
      snapshot: undefined,
      entries: [],
    });
    expect(synced).toHaveLength(3);
    await wal.persist({
      hardState: { promisedBallot: 2049, commitIndex: 3 },
      snapshot: undefined,
      entries: [],
    });
    expect(synced).toHaveLength(3);
    await wal.close();
    const closed = await new WalStorage({ dir: DIR, fs: fs.crash() }).load();
    expect(closed.hardState).toEqual({ promisedBallot: 2049, commitIndex: 3 });
  });
});

describe("WalStorage faults", () => {
  it("halts on a full disk; a restart recovers what was synced and can write again", async () => {
    const fs = new CrashFs();
    const wal = new WalStorage({ dir: DIR, fs });
    await wal.load();
    await wal.persist(entriesBatch(slots(1, 3), 2));
    fs.capacityBytes = fs.usedBytes() + 40;
    const error = await rejection(wal.persist(entriesBatch(slots(4, 6), 5)));
    expect(error).toBeInstanceOf(ConsensusError);
    expect((error as ConsensusError).code).toBe("StorageFailure");
    expect((error as Error).message).toContain("ENOSPC");
    expect(wal.halted).toBe(true);
    // Halted: even a write that would fit and a load are refused.
    expect(await rejection(wal.persist(entriesBatch([walEntry(4)])))).toBe(error);
    expect(await rejection(wal.load())).toBe(error);
    await wal.close();
    await wal.close();

    fs.capacityBytes = Number.POSITIVE_INFINITY;
    for (const restartedFs of [fs.crash((_, unsynced) => unsynced), fs.crash()]) {
      const restarted = new WalStorage({ dir: DIR, fs: restartedFs });
      const state = await restarted.load();
      expect(state.entries).toEqual(slots(1, 3));
      expect(state.hardState.commitIndex).toBe(2);
      await restarted.persist(entriesBatch(slots(4, 6), 5));
      expect((await new WalStorage({ dir: DIR, fs: restartedFs }).load()).entries).toEqual(
        slots(1, 6),
      );
    }
  });

  it("halts on ENOSPC from the real file system and recovers on restart", async () => {
    const dir = await tempDir();
    const faulty = new FaultyFs(new NodeWalFs());
    const wal = new WalStorage({ dir, fs: faulty });
    await wal.load();
    await wal.persist(entriesBatch(slots(1, 2), 1));
    faulty.fault = (op) => (op === "write" ? "ENOSPC" : undefined);
    const error = await rejection(wal.persist(entriesBatch(slots(3, 4), 3)));
    expect((error as ConsensusError).code).toBe("StorageFailure");
    expect(wal.halted).toBe(true);
    faulty.fault = undefined;
    expect(await rejection(wal.persist(entriesBatch(slots(3, 4))))).toBe(error);
    const restarted = new WalStorage({ dir });
    expect((await restarted.load()).entries).toEqual(slots(1, 2));
    await restarted.persist(entriesBatch(slots(3, 4), 3));
    await restarted.close();
    expect((await loadAndClose(dir)).entries).toEqual(slots(1, 4));
  });

  it("halts when fdatasync fails, even though the write itself succeeded", async () => {
    const dir = await tempDir();
    const faulty = new FaultyFs(new NodeWalFs());
    const wal = new WalStorage({ dir, fs: faulty });
    await wal.load();
    faulty.fault = (op) => (op === "datasync" ? "EIO" : undefined);
    const error = await rejection(wal.persist(entriesBatch(slots(1, 2), 1)));
    expect((error as Error).message).toMatch(/halted.*EIO/);
    expect(wal.halted).toBe(true);
    // On this (real, not crashed) disk the written batch may be read back whole: allowed, since
    // a failed persist "may or may not have reached the disk". What matters is it is whole.
    const entries = (await loadAndClose(dir)).entries;
    expect([0, 2]).toContain(entries.length);
  });

  it("refuses contract violations without halting or writing", async () => {
    const fs = new CrashFs();
    const wal = new WalStorage({ dir: DIR, fs, maxRecordBytes: 1024 });
    await wal.load();
    await wal.persist(entriesBatch(slots(1, 2)));
    const size = await fs.size(firstSegment(DIR));
    const hole = await rejection(wal.persist(entriesBatch([walEntry(3), walEntry(5)])));
    expect((hole as ConsensusError).code).toBe("StorageFailure");
    const tooBig = await rejection(wal.persist(entriesBatch([walEntry(3, 1025, 4096)])));
    expect((tooBig as Error).message).toContain("exceeds the limit");
    const unsafe = await rejection(wal.persist(entriesBatch([walEntry(3, -1)])));
    expect((unsafe as Error).message).toContain("cannot encode");
    expect(wal.halted).toBe(false);
    expect(await fs.size(firstSegment(DIR))).toBe(size);
    await wal.persist(entriesBatch([walEntry(3)]));
    expect((await wal.load()).entries).toEqual(slots(1, 3));
  });

  it("reports every append to the observer", async () => {
    const appends: Array<[number, number]> = [];
    const fs = new CrashFs();
    const wal = new WalStorage({
      dir: DIR,
      fs,
      observer: { appended: (bytes, durationMs) => appends.push([bytes, durationMs]) },
    });
    await wal.load();
    const before = await fs.size(firstSegment(DIR));
    await wal.persist(entriesBatch(slots(1, 2), 1));
    expect(appends).toHaveLength(1);
    expect(appends[0]?.[0]).toBe((await fs.size(firstSegment(DIR))) - before);
    expect(appends[0]?.[1]).toBeGreaterThanOrEqual(0);
  });

  it("refuses a directory another live process holds, and takes over a stale lock", async () => {
    const dir = await tempDir();
    const lock = join(dir, LOCK_NAME);
    // The parent process is certainly alive (and not us).
    await writeFile(lock, String(process.ppid));
    const error = await rejection(new WalStorage({ dir }).load());
    expect((error as ConsensusError).code).toBe("StorageFailure");
    expect((error as Error).message).toContain(`in use by process ${process.ppid}`);
    // A pid above Linux's maximum belongs to no process: the lock is stale.
    await writeFile(lock, "999999999");
    const wal = new WalStorage({ dir });
    await wal.load();
    expect(await readFile(lock, "utf8")).toBe(String(process.pid));
    await wal.close();
    expect((await readdir(dir)).includes(LOCK_NAME)).toBe(false);
  });

  it("rejects a second call while one is in flight", async () => {
    const wal = new WalStorage({ dir: DIR, fs: new CrashFs() });
    await wal.load();
    const first = wal.persist(entriesBatch([walEntry(1)]));
    const second = await rejection(wal.persist(entriesBatch([walEntry(2)])));
    expect((second as Error).message).toContain("in flight");
    await first;
    expect((await wal.load()).entries).toEqual([walEntry(1)]);
  });
});

describe("WalStorage segments and snapshots", () => {
  it("keeps disk use bounded: compaction deletes segments and older snapshots", async () => {
    const fs = new CrashFs();
    const segmentBytes = 2048;
    const wal = new WalStorage({ dir: DIR, fs, segmentBytes });
    await wal.load();
    let last = 0;
    let maxSegments = 0;
    for (let round = 1; round <= 20; round++) {
      for (let i = 0; i < 50; i++) {
        last += 1;
        await wal.persist(entriesBatch([walEntry(last)], last - 1));
      }
      const snapshot = { index: last - 5, ballot: 1025, data: new Uint8Array(100).fill(round) };
      await wal.compact(snapshot, last - 10);
      const names = await fs.readdir(DIR);
      maxSegments = Math.max(maxSegments, names.filter((n) => n.endsWith(".wal")).length);
      expect(names.filter((n) => n.endsWith(".snap"))).toEqual([snapshotName(last - 5)]);
    }
    // 50 entries of ~60 bytes per round fill about two segments of 2 KiB.
    expect(maxSegments).toBeLessThanOrEqual(3);
    expect(fs.usedBytes()).toBeLessThan(4 * segmentBytes);
    const state = await new WalStorage({ dir: DIR, fs: fs.crash() }).load();
    expect(state.compactedIndex).toBe(last - 10);
    expect(state.snapshot?.index).toBe(last - 5);
    expect(state.snapshot?.data).toEqual(new Uint8Array(100).fill(20));
    expect(state.entries).toEqual(slots(last - 9, last));
    expect(state.hardState.commitIndex).toBe(last - 1);
  });

  it("replays entries rewritten across segments after the old ones are gone", async () => {
    const fs = new CrashFs();
    const wal = new WalStorage({ dir: DIR, fs, segmentBytes: 1024 });
    await wal.load();
    for (let i = 1; i <= 40; i++) {
      await wal.persist(entriesBatch([walEntry(i)]));
    }
    // A new leader rewrites slots 21..40 at a higher ballot, then the prefix is compacted.
    for (let i = 21; i <= 40; i++) {
      await wal.persist(entriesBatch([walEntry(i, 2049)]));
    }
    await wal.compact({ index: 25, ballot: 2049, data: new Uint8Array([25]) }, 25);
    expect((await fs.readdir(DIR)).filter((n) => n.endsWith(".wal")).length).toBeLessThan(5);
    const state = await new WalStorage({ dir: DIR, fs: fs.crash() }).load();
    expect(state.entries).toEqual(slots(26, 40, 2049));
  });

  it("installs a snapshot from a persist atomically with its entries", async () => {
    const fs = new CrashFs();
    const wal = new WalStorage({ dir: DIR, fs });
    await wal.load();
    await wal.persist(entriesBatch(slots(1, 3)));
    let crashed: CrashFs | undefined;
    fs.fault = (op, path) => {
      if (op === "datasync" && path.endsWith(".wal")) {
        crashed = fs.crash();
        return "EIO";
      }
      return undefined;
    };
    const snapshot = { index: 10, ballot: 1025, data: new Uint8Array([10]) };
    const batch = {
      hardState: { promisedBallot: 1025, commitIndex: 10 },
      snapshot,
      entries: [walEntry(11)],
    };
    await rejection(wal.persist(batch));
    // The snapshot file was durable, the batch was not: the restart ignores (and deletes) the file.
    const restarted = new WalStorage({ dir: DIR, fs: crashed as CrashFs });
    const before = await restarted.load();
    expect(before.snapshot).toBeUndefined();
    expect(before.entries).toEqual(slots(1, 3));
    expect(restarted.lastRecovery?.removedFiles).toEqual([snapshotName(10)]);
    await restarted.persist(batch);
    const after = await new WalStorage({ dir: DIR, fs: (crashed as CrashFs).crash() }).load();
    expect(after.snapshot).toEqual(snapshot);
    expect(after.compactedIndex).toBe(10);
    expect(after.entries).toEqual([walEntry(11)]);
  });

  it("starts over when creating the very first segment failed", async () => {
    const fs = new CrashFs();
    fs.fault = (op) => (op === "rename" ? "EIO" : undefined);
    const first = new WalStorage({ dir: DIR, fs });
    expect(((await rejection(first.load())) as ConsensusError).code).toBe("StorageFailure");
    expect(await fs.readdir(DIR)).toEqual([`${segmentName(1)}.tmp`]);
    fs.fault = undefined;
    const second = new WalStorage({ dir: DIR, fs });
    expect((await second.load()).entries).toEqual([]);
    await second.persist(entriesBatch([walEntry(1)]));
    expect(await fs.readdir(DIR)).toEqual([segmentName(1)]);
  });

  it("survives a crash in the middle of starting a segment", async () => {
    for (const failOn of ["create", "datasync", "rename", "syncDir"] as const) {
      const fs = new CrashFs();
      const wal = new WalStorage({ dir: DIR, fs, segmentBytes: 1024 });
      await wal.load();
      let crashed: CrashFs | undefined;
      let i = 0;
      fs.fault = (op, path) => {
        const cutting =
          op === "syncDir" || (path.includes(".wal") && !path.endsWith(segmentName(1)));
        if (op === failOn && cutting) {
          crashed = fs.crash((_, unsynced) => unsynced);
          return "EIO";
        }
        return undefined;
      };
      while (crashed === undefined && i < 100) {
        i += 1;
        await wal.persist(entriesBatch([walEntry(i)])).catch(() => undefined);
      }
      if (crashed === undefined) {
        throw new Error(`no segment was started (${failOn})`);
      }
      const restarted = new WalStorage({ dir: DIR, fs: crashed });
      const state = await restarted.load();
      expect(state.entries).toEqual(slots(1, i - 1));
      await restarted.persist(entriesBatch([walEntry(i)]));
      expect((await new WalStorage({ dir: DIR, fs: crashed.crash() }).load()).entries).toEqual(
        slots(1, i),
      );
      expect((await crashed.readdir(DIR)).some((n) => n.endsWith(".tmp"))).toBe(false);
    }
  });
});

/** Size of a fresh segment (header and the checkpoint of an empty log): where batches start. */
async function emptySegmentBytes(): Promise<number> {
  const fs = new CrashFs();
  await new WalStorage({ dir: DIR, fs }).load();
  return fs.size(firstSegment(DIR));
}
