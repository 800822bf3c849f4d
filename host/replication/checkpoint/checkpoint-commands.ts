import { ByteReader, ByteWriter } from "../bytes.js";
import { encodeCommand } from "../envelope.js";
import { PART_TAGS } from "../part.js";

/** Bytes of a running hash (sha256). */
export const HASH_BYTES = 32;

/**
 * A checkpoint: the proposer's running hash after every command of the slots up to
 * `appliedIndex` (its last applied command's slot when it proposed).
 */
export interface CheckpointCommand {
  readonly appliedIndex: number;
  readonly hash: Uint8Array;
}

/** What applying a checkpoint gave, the same on every replica that did not halt. */
export interface CheckpointResult {
  /**
   * True when the replica compared its hash (and it matched); false when the slot was older than
   * the replica's window of recent hashes, so nothing could be compared.
   */
  readonly verified: boolean;
}

export function encodeCheckpointCommand(command: CheckpointCommand): Uint8Array {
  const body = new ByteWriter().u64(command.appliedIndex).raw(command.hash).finish();
  return encodeCommand(PART_TAGS.checkpoint, body);
}

/** Decodes a checkpoint body; malformed bytes throw `BadCommand`. */
export function decodeCheckpointBody(body: Uint8Array): CheckpointCommand {
  const reader = new ByteReader(body, "BadCommand", "checkpoint command");
  const appliedIndex = reader.u64();
  const hash = reader.raw(HASH_BYTES);
  reader.end();
  return { appliedIndex, hash };
}

export function encodeCheckpointResult(result: CheckpointResult): Uint8Array {
  return new ByteWriter().u8(result.verified ? 1 : 0).finish();
}

export function decodeCheckpointResult(bytes: Uint8Array): CheckpointResult {
  const reader = new ByteReader(bytes, "BadCommand", "checkpoint result");
  const verified = reader.u8() === 1;
  reader.end();
  return { verified };
}
