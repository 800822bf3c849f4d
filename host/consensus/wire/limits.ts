import type { CoreOptions } from "../core/config.js";
import { MAX_CLIENT_ID_BYTES } from "../core/entry.js";

/**
 * Every limit of the binary wire format, defined once. The decoder checks each length against the
 * bytes that remain in the frame *and* against these limits before it allocates anything, so a
 * frame can never make it allocate more than the frame's own size.
 *
 * These are hard caps of the format, not tunables of the protocol: the core's own
 * `maxEntriesPerMessage` / `maxMessageBytes` / `maxBatchCommands` must stay below them (the
 * defaults are far below), otherwise a replica would produce messages its peers refuse.
 */
export interface WireLimits {
  /** Most bytes of one frame, including its 4-byte length prefix. */
  readonly maxFrameBytes: number;
  /** Most entries in one promise, accept or learn message. */
  readonly maxEntriesPerMessage: number;
  /** Most commands in one slot's batch. */
  readonly maxCommandsPerEntry: number;
  /** Most bytes of one command's payload. */
  readonly maxPayloadBytes: number;
  /** Most UTF-8 bytes of one command's client id. */
  readonly maxClientIdBytes: number;
}

/** Defaults: a 64 MiB frame carries the largest snapshot chunk or accept batch with room to spare. */
export const DEFAULT_WIRE_LIMITS: WireLimits = {
  maxFrameBytes: 64 << 20,
  maxEntriesPerMessage: 16_384,
  maxCommandsPerEntry: 65_536,
  maxPayloadBytes: 16 << 20,
  maxClientIdBytes: MAX_CLIENT_ID_BYTES,
};

/** First byte of every frame after the length prefix: rejects streams that are not ours at once. */
export const WIRE_MAGIC = 0xc7;

/** The format version this build writes and the only one it reads. */
export const WIRE_VERSION = 1;

/** Bytes of the length prefix (u32 little-endian: the bytes that follow it). */
export const LENGTH_PREFIX_BYTES = 4;

/** Bytes before the body: length prefix, magic, version, cluster tag (u32), type. */
export const FRAME_HEADER_BYTES = LENGTH_PREFIX_BYTES + 1 + 1 + 4 + 1;

/** Most UTF-8 bytes of a cluster id (it is sent in full only in the handshake). */
export const MAX_CLUSTER_ID_BYTES = 128;

/** Most bytes of a handshake frame; a larger length prefix before the handshake disconnects. */
export const MAX_HANDSHAKE_FRAME_BYTES = 1024;

/** Most UTF-8 bytes of a refusal reason. */
export const MAX_REASON_BYTES = 512;

/** Replica ids on the wire are u16 values in `[1, MAX_WIRE_REPLICA_ID]` (the ballot space). */
export const MAX_WIRE_REPLICA_ID = 1023;

/** Merges `overrides` into the defaults and checks the result is coherent. */
export function wireLimits(overrides: Partial<WireLimits> = {}): WireLimits {
  const limits = { ...DEFAULT_WIRE_LIMITS, ...overrides };
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`wire limit ${key} must be a positive integer, got ${value}`);
    }
  }
  if (limits.maxFrameBytes > 0xffff_ffff || limits.maxFrameBytes < MAX_HANDSHAKE_FRAME_BYTES) {
    throw new RangeError(`maxFrameBytes must be in [${MAX_HANDSHAKE_FRAME_BYTES}, 2^32 - 1]`);
  }
  if (limits.maxClientIdBytes > 0xffff) {
    throw new RangeError("maxClientIdBytes must fit in a u16 length");
  }
  return limits;
}

/** Encoded bytes of an entry besides its commands: index, ballot, kind, command count. */
const ENTRY_HEADER_BYTES = 8 + 8 + 1 + 4;

/**
 * The problems (empty if none) that would make a replica with `core` options produce messages
 * that peers with `wire` limits refuse. Call it where the node's configuration is validated.
 * The frame bound is conservative: a command counts `clientId.length + 32` bytes against
 * `maxMessageBytes` but encodes to at most three UTF-8 bytes per UTF-16 unit plus 14.
 */
export function coreFitsWire(core: CoreOptions, wire: WireLimits): string[] {
  const problems: string[] = [];
  if (core.maxEntriesPerMessage > wire.maxEntriesPerMessage) {
    problems.push(
      `maxEntriesPerMessage ${core.maxEntriesPerMessage} > wire limit ${wire.maxEntriesPerMessage}`,
    );
  }
  if (core.maxBatchCommands > wire.maxCommandsPerEntry) {
    problems.push(
      `maxBatchCommands ${core.maxBatchCommands} > wire limit ${wire.maxCommandsPerEntry}`,
    );
  }
  if (core.maxBatchBytes > wire.maxPayloadBytes) {
    problems.push(
      `maxBatchBytes ${core.maxBatchBytes} > wire payload limit ${wire.maxPayloadBytes}`,
    );
  }
  const worstFrameBytes =
    3 * core.maxMessageBytes +
    ENTRY_HEADER_BYTES * core.maxEntriesPerMessage +
    FRAME_HEADER_BYTES +
    64;
  if (worstFrameBytes > wire.maxFrameBytes) {
    problems.push(
      `maxMessageBytes ${core.maxMessageBytes} may encode to ${worstFrameBytes} bytes > wire frame limit ${wire.maxFrameBytes}`,
    );
  }
  return problems;
}
