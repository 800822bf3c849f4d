/**
 * WAL benchmark, on the real file system under the OS temp dir (ext4 on the build machine):
 *
 * - raw fdatasync: one 76-byte append plus fdatasync through `NodeWalFs`, p50/p99; the floor
 *   every durable write pays;
 * - sequential persists: one entry (64-byte payload) per `persist`, awaited one after the other,
 *   as a single client with no group commit sees it: p50/p99 and persists/s;
 * - larger batches: 16, 128 and 1024 such entries per `persist` (what group commit produces
 *   under load): entries/s and MB/s, then the time a restart takes to load what was written.
 *
 * Plain timing loops rather than tinybench: each sample is one fsync-bound call and the
 * percentiles of those calls are the result. The machine may be shared: compare numbers from one
 * run. `npx tsx bench/wal.bench.ts` or `npm run bench -- wal`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Entry } from "../host/consensus/core/entry.js";
import { NodeWalFs } from "../host/consensus/storage/wal/fs.js";
import { WalStorage } from "../host/consensus/storage/wal/wal-storage.js";

const PAYLOAD_BYTES = 64;
const SAMPLES = 300;
const BATCH_SIZES = [16, 128, 1024];
const BATCH_SAMPLES = 40;

function entry(index: number): Entry {
  return {
    index,
    ballot: 1025,
    value: {
      kind: "batch",
      commands: [{ clientId: "bench", requestId: index, payload: new Uint8Array(PAYLOAD_BYTES) }],
    },
  };
}

function percentile(sortedMs: readonly number[], p: number): number {
  return sortedMs[Math.min(sortedMs.length - 1, Math.floor(sortedMs.length * p))] as number;
}

function summary(samplesMs: number[]): string {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 0.5).toFixed(3)} ms, p99 ${percentile(sorted, 0.99).toFixed(3)} ms`;
}

async function rawFdatasync(dir: string): Promise<void> {
  const fs = new NodeWalFs();
  const file = await fs.create(join(dir, "raw.bin"));
  const record = new Uint8Array(76);
  const samples: number[] = [];
  let position = 0;
  for (let i = 0; i < SAMPLES; i++) {
    const start = performance.now();
    await file.write(record, position);
    await file.datasync();
    samples.push(performance.now() - start);
    position += record.length;
  }
  await file.close();
  console.log(`raw append + fdatasync (76 B):     ${summary(samples)}`);
}

async function sequentialPersists(dir: string): Promise<void> {
  const wal = new WalStorage({ dir: join(dir, "sequential") });
  await wal.load();
  const samples: number[] = [];
  const begin = performance.now();
  for (let i = 1; i <= SAMPLES; i++) {
    const start = performance.now();
    await wal.persist({
      hardState: { promisedBallot: 1025, commitIndex: i - 1 },
      snapshot: undefined,
      entries: [entry(i)],
    });
    samples.push(performance.now() - start);
  }
  const seconds = (performance.now() - begin) / 1000;
  await wal.close();
  console.log(
    `persist, 1 entry + hard state:     ${summary(samples)}, ${(SAMPLES / seconds).toFixed(0)} persists/s`,
  );
}

async function batchedPersists(dir: string, batchSize: number): Promise<void> {
  const wal = new WalStorage({ dir: join(dir, `batch-${batchSize}`) });
  await wal.load();
  const samples: number[] = [];
  let next = 1;
  const begin = performance.now();
  for (let i = 0; i < BATCH_SAMPLES; i++) {
    const entries = Array.from({ length: batchSize }, () => entry(next++));
    const start = performance.now();
    await wal.persist({
      hardState: { promisedBallot: 1025, commitIndex: next - 1 },
      snapshot: undefined,
      entries,
    });
    samples.push(performance.now() - start);
  }
  const seconds = (performance.now() - begin) / 1000;
  await wal.close();
  const reopened = new WalStorage({ dir: join(dir, `batch-${batchSize}`) });
  const loadStart = performance.now();
  const loaded = (await reopened.load()).entries.length;
  const loadMs = performance.now() - loadStart;
  await reopened.close();
  const entriesPerSecond = (BATCH_SAMPLES * batchSize) / seconds;
  const megabytesPerSecond = (entriesPerSecond * PAYLOAD_BYTES) / 1e6;
  console.log(
    `persist, ${String(batchSize).padStart(4)} entries:            ${summary(samples)}, ` +
      `${entriesPerSecond.toFixed(0)} entries/s, ${megabytesPerSecond.toFixed(1)} MB/s of payload; ` +
      `recovery of ${loaded} entries ${loadMs.toFixed(1)} ms`,
  );
}

export async function runWalBench(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "cartridge-wal-bench-"));
  try {
    console.log(`WAL in ${dir}, ${PAYLOAD_BYTES}-byte payloads`);
    await rawFdatasync(dir);
    await sequentialPersists(dir);
    for (const size of BATCH_SIZES) {
      await batchedPersists(dir, size);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  await runWalBench();
}
