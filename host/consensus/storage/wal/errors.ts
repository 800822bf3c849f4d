import { ConsensusError } from "../../core/errors.js";

/**
 * Why a WAL refused to start. Stable strings, so an operator (and a test) can tell them apart:
 *
 * - `BadSegmentHeader`: wrong magic, version, checksum or sequence in a segment header.
 * - `BadRecord`: a record fails its checksum, or does not decode, before the log's tail.
 * - `IncompleteBatch`: a segment other than the last ends inside a batch.
 * - `BadLog`: records that pass their checksums but contradict each other (a hole, a checkpoint
 *   that disagrees with what precedes it, a missing segment or missing entries).
 * - `BadSnapshot`: a snapshot file is missing, fails its checksum or disagrees with the log.
 * - `TooLarge`: a file exceeds the size this WAL could have written.
 */
export type WalCorruptionReason =
  | "BadSegmentHeader"
  | "BadRecord"
  | "IncompleteBatch"
  | "BadLog"
  | "BadSnapshot"
  | "TooLarge";

/**
 * The WAL found damage it must not repair (anything other than a torn tail) and refuses to start.
 * Its `code` is `StorageFailure` like every storage error; `file` and `offsetBytes` say where.
 */
export class WalCorruptionError extends ConsensusError {
  readonly reason: WalCorruptionReason;
  readonly file: string;
  readonly offsetBytes: number;

  constructor(reason: WalCorruptionReason, file: string, offsetBytes: number, detail: string) {
    super("StorageFailure", `WAL corrupt (${reason}) in ${file} at byte ${offsetBytes}: ${detail}`);
    this.reason = reason;
    this.file = file;
    this.offsetBytes = offsetBytes;
  }
}
