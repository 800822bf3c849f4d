import { ConsensusError } from "../../core/errors.js";
import type { WalFs } from "./fs.js";

/** How a `WalStorage` is set up. Only `dir` is required. */
export interface WalOptions {
  /** Directory holding this replica's segments and snapshot files (created if missing). */
  readonly dir: string;
  /** The file system; the real one unless a test injects faults. */
  readonly fs?: WalFs;
  /** A new segment is started before a batch that would grow the current one beyond this. */
  readonly segmentBytes?: number;
  /** Largest single record (one entry, with framing); larger entries are refused. */
  readonly maxRecordBytes?: number;
  /** Largest encoded batch (one persist call); larger batches are refused. */
  readonly maxBatchBytes?: number;
  /** Largest snapshot accepted and read back. */
  readonly maxSnapshotBytes?: number;
  /** Told about every append, for metrics (the WAL fsync latency histogram). Must not throw. */
  readonly observer?: WalObserver;
}

/** Hooks for metrics; the consensus layer knows no metrics library, the node wires one in. */
export interface WalObserver {
  /** One batch appended and fdatasynced: bytes written, and the time of its write plus fdatasync. */
  appended(bytes: number, durationMs: number): void;
}

/** The defaults; the one place these limits are set. */
export const WAL_DEFAULTS = {
  segmentBytes: 64 << 20,
  maxRecordBytes: 16 << 20,
  maxBatchBytes: 512 << 20,
  maxSnapshotBytes: 1 << 30,
} as const;

export type WalLimits = { readonly [K in keyof typeof WAL_DEFAULTS]: number };

export function walLimits(options: WalOptions): WalLimits {
  const limits = {
    segmentBytes: options.segmentBytes ?? WAL_DEFAULTS.segmentBytes,
    maxRecordBytes: options.maxRecordBytes ?? WAL_DEFAULTS.maxRecordBytes,
    maxBatchBytes: options.maxBatchBytes ?? WAL_DEFAULTS.maxBatchBytes,
    maxSnapshotBytes: options.maxSnapshotBytes ?? WAL_DEFAULTS.maxSnapshotBytes,
  };
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1024) {
      throw new ConsensusError(
        "InvalidArgument",
        `WAL option ${key} must be an integer >= 1024, got ${value}`,
      );
    }
  }
  if (limits.maxRecordBytes > limits.maxBatchBytes) {
    throw new ConsensusError(
      "InvalidArgument",
      "WAL option maxRecordBytes must not exceed maxBatchBytes",
    );
  }
  return limits;
}
