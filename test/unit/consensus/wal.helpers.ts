import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "vitest";
import type { Entry } from "../../../host/consensus/core/entry.js";
import type { PersistBatch } from "../../../host/consensus/storage/storage.js";

/** An entry whose payload says which slot and ballot wrote it. */
export function walEntry(index: number, ballot = 1025, payloadBytes = 8): Entry {
  const payload = new Uint8Array(payloadBytes).fill(index % 251);
  return {
    index,
    ballot,
    value: {
      kind: "batch",
      commands: [{ clientId: `client-${index % 7}`, requestId: index, payload }],
    },
  };
}

/** A batch writing `entries` and, optionally, a hard state. */
export function entriesBatch(entries: Entry[], commitIndex?: number): PersistBatch {
  return {
    hardState: commitIndex === undefined ? undefined : { promisedBallot: 1025, commitIndex },
    snapshot: undefined,
    entries,
  };
}

/** Slots `from..to` as entries. */
export function slots(from: number, to: number, ballot = 1025): Entry[] {
  return Array.from({ length: to - from + 1 }, (_, i) => walEntry(from + i, ballot));
}

/** A fresh temporary directory per test, removed after it. */
export function useTempDirs(): () => Promise<string> {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), "cartridge-wal-"));
    dirs.push(dir);
    return dir;
  };
}
