import type { Snapshot } from "../core/entry.js";
import type { Message } from "../core/messages.js";
import { readEntries, readSnapshot, writeEntries, writeSnapshot } from "./entry-codec.js";
import { WireDecodeError, WireEncodeError } from "./errors.js";
import { beginFrame, endFrame, expectEnd, guardDecode, openFrame } from "./frame.js";
import { MAX_WIRE_REPLICA_ID, type WireLimits } from "./limits.js";
import type { WireReader } from "./reader.js";
import type { WireWriter } from "./writer.js";

/**
 * The type byte of each message. Never renumber: a number is part of the format. `satisfies`
 * makes a new message type in `messages.ts` a compile error here until it has a code and a body.
 */
export const MESSAGE_TYPE_CODES = {
  preVote: 1,
  preVoteReply: 2,
  prepare: 3,
  promise: 4,
  accept: 5,
  accepted: 6,
  acceptGap: 7,
  heartbeat: 8,
  status: 9,
  learn: 10,
  installSnapshot: 11,
  nack: 12,
  snapshotAck: 13,
} as const satisfies Record<Message["type"], number>;

/** Type byte of a standalone snapshot frame (a snapshot file or blob, not a message). */
export const SNAPSHOT_FRAME_TYPE = 32;

/** Type bytes at or above this are transport control frames (handshake, ping), not messages. */
export const FIRST_CONTROL_TYPE = 64;

/**
 * Appends `message` as one frame to `writer`; returns the frame's size in bytes. On any error
 * (a field outside its domain, a frame above `maxFrameBytes`) the writer is rolled back to where
 * it was and a {@link WireEncodeError} is thrown.
 *
 * Body layout: `u16 from, u16 to, u64 ballot`, then per type (u64 unless noted):
 * preVote `commitIndex`; preVoteReply `u8 granted`; prepare `fromIndex, commitIndex`;
 * promise `fromIndex, lastIndex, commitIndex, entries`; accept `commitIndex, entries`;
 * accepted `fromIndex, toIndex, commitIndex, lastIndex`; acceptGap `commitIndex, lastIndex`;
 * heartbeat `commitIndex`; status `commitIndex, lastIndex`; learn `entries`;
 * installSnapshot (one chunk) `index, snapshotBallot, totalBytes, u32 checksum, offset, u8 last,
 * u32 dataLength, data`; snapshotAck `index, offset`; nack nothing more. Entries: `u32 count`
 * then each entry.
 */
export function encodeMessage(
  writer: WireWriter,
  message: Message,
  clusterTag: number,
  limits: WireLimits,
): number {
  const start = beginFrame(writer, clusterTag, MESSAGE_TYPE_CODES[message.type]);
  try {
    writeReplicaId(writer, message.from, "from");
    writeReplicaId(writer, message.to, "to");
    writer.u64(message.ballot, "ballot");
    writeBody(writer, message, limits);
    const frameBytes = endFrame(writer, start);
    if (frameBytes > limits.maxFrameBytes) {
      throw new WireEncodeError("LimitExceeded", `frame of ${frameBytes} bytes is too large`);
    }
    return frameBytes;
  } catch (error) {
    writer.truncate(start);
    throw error;
  }
}

function writeChecksum(writer: WireWriter, checksum: number): void {
  if (!Number.isInteger(checksum) || checksum < 0 || checksum > 0xffff_ffff) {
    throw new WireEncodeError(
      "InvalidField",
      `checksum ${checksum} is not an unsigned 32-bit integer`,
    );
  }
  writer.u32(checksum);
}

function writeReplicaId(writer: WireWriter, id: number, field: string): void {
  if (!Number.isInteger(id) || id < 1 || id > MAX_WIRE_REPLICA_ID) {
    throw new WireEncodeError("InvalidField", `${field} ${id} is not a replica id`);
  }
  writer.u16(id);
}

function writeBody(writer: WireWriter, message: Message, limits: WireLimits): void {
  switch (message.type) {
    case "preVote":
    case "heartbeat":
      writer.u64(message.commitIndex, "commitIndex");
      return;
    case "preVoteReply":
      writer.u8(message.granted ? 1 : 0);
      return;
    case "prepare":
      writer.u64(message.fromIndex, "fromIndex");
      writer.u64(message.commitIndex, "commitIndex");
      return;
    case "promise":
      writer.u64(message.fromIndex, "fromIndex");
      writer.u64(message.lastIndex, "lastIndex");
      writer.u64(message.commitIndex, "commitIndex");
      writeEntries(writer, message.entries, limits);
      return;
    case "accept":
      writer.u64(message.commitIndex, "commitIndex");
      writeEntries(writer, message.entries, limits);
      return;
    case "accepted":
      writer.u64(message.fromIndex, "fromIndex");
      writer.u64(message.toIndex, "toIndex");
      writer.u64(message.commitIndex, "commitIndex");
      writer.u64(message.lastIndex, "lastIndex");
      return;
    case "acceptGap":
    case "status":
      writer.u64(message.commitIndex, "commitIndex");
      writer.u64(message.lastIndex, "lastIndex");
      return;
    case "learn":
      writeEntries(writer, message.entries, limits);
      return;
    case "installSnapshot":
      writer.u64(message.index, "index");
      writer.u64(message.snapshotBallot, "snapshotBallot");
      writer.u64(message.totalBytes, "totalBytes");
      writeChecksum(writer, message.checksum);
      writer.u64(message.offset, "offset");
      writer.u8(message.last ? 1 : 0);
      writer.bytesWithLength(message.data);
      return;
    case "snapshotAck":
      writer.u64(message.index, "index");
      writer.u64(message.offset, "offset");
      return;
    case "nack":
      return;
  }
}

/**
 * Decodes one whole frame (length prefix included) into a message. Throws only
 * {@link WireDecodeError}: a frame for another cluster is `WrongCluster`, a control frame or an
 * unknown type is `UnknownType`, and every length is checked before anything is allocated.
 */
export function decodeMessage(frame: Uint8Array, clusterTag: number, limits: WireLimits): Message {
  return guardDecode(() => {
    const { header, reader } = openFrame(frame, limits);
    if (header.clusterTag !== clusterTag) {
      throw new WireDecodeError(
        "WrongCluster",
        `cluster tag ${header.clusterTag} is not ${clusterTag}`,
      );
    }
    const message = readMessage(reader, header.type, limits);
    expectEnd(reader);
    return message;
  });
}

function readReplicaId(reader: WireReader, field: string): number {
  const id = reader.u16(field);
  if (id < 1 || id > MAX_WIRE_REPLICA_ID) {
    throw new WireDecodeError("InvalidField", `${field} ${id} is not a replica id`);
  }
  return id;
}

function readMessage(reader: WireReader, type: number, limits: WireLimits): Message {
  if (type < MESSAGE_TYPE_CODES.preVote || type > MESSAGE_TYPE_CODES.snapshotAck) {
    throw new WireDecodeError("UnknownType", `message type ${type}`);
  }
  const from = readReplicaId(reader, "from");
  const to = readReplicaId(reader, "to");
  const ballot = reader.u64("ballot");
  switch (type) {
    case MESSAGE_TYPE_CODES.preVote:
      return { type: "preVote", from, to, ballot, commitIndex: reader.u64("commitIndex") };
    case MESSAGE_TYPE_CODES.preVoteReply:
      return { type: "preVoteReply", from, to, ballot, granted: reader.bool("granted") };
    case MESSAGE_TYPE_CODES.prepare: {
      const fromIndex = reader.u64("fromIndex");
      return {
        type: "prepare",
        from,
        to,
        ballot,
        fromIndex,
        commitIndex: reader.u64("commitIndex"),
      };
    }
    case MESSAGE_TYPE_CODES.promise: {
      const fromIndex = reader.u64("fromIndex");
      const lastIndex = reader.u64("lastIndex");
      const commitIndex = reader.u64("commitIndex");
      const entries = readEntries(reader, limits);
      return { type: "promise", from, to, ballot, fromIndex, lastIndex, commitIndex, entries };
    }
    case MESSAGE_TYPE_CODES.accept: {
      const commitIndex = reader.u64("commitIndex");
      return {
        type: "accept",
        from,
        to,
        ballot,
        commitIndex,
        entries: readEntries(reader, limits),
      };
    }
    case MESSAGE_TYPE_CODES.accepted: {
      const fromIndex = reader.u64("fromIndex");
      const toIndex = reader.u64("toIndex");
      const commitIndex = reader.u64("commitIndex");
      const lastIndex = reader.u64("lastIndex");
      return { type: "accepted", from, to, ballot, fromIndex, toIndex, commitIndex, lastIndex };
    }
    case MESSAGE_TYPE_CODES.acceptGap: {
      const commitIndex = reader.u64("commitIndex");
      return {
        type: "acceptGap",
        from,
        to,
        ballot,
        commitIndex,
        lastIndex: reader.u64("lastIndex"),
      };
    }
    case MESSAGE_TYPE_CODES.heartbeat:
      return { type: "heartbeat", from, to, ballot, commitIndex: reader.u64("commitIndex") };
    case MESSAGE_TYPE_CODES.status: {
      const commitIndex = reader.u64("commitIndex");
      return { type: "status", from, to, ballot, commitIndex, lastIndex: reader.u64("lastIndex") };
    }
    case MESSAGE_TYPE_CODES.learn:
      return { type: "learn", from, to, ballot, entries: readEntries(reader, limits) };
    case MESSAGE_TYPE_CODES.installSnapshot:
      return readSnapshotChunk(reader, from, to, ballot, limits);
    case MESSAGE_TYPE_CODES.snapshotAck: {
      const index = reader.u64("index");
      return { type: "snapshotAck", from, to, ballot, index, offset: reader.u64("offset") };
    }
    default:
      return { type: "nack", from, to, ballot };
  }
}

function readSnapshotChunk(
  reader: WireReader,
  from: number,
  to: number,
  ballot: number,
  limits: WireLimits,
): Message {
  const index = reader.u64("index");
  const snapshotBallot = reader.u64("snapshotBallot");
  const totalBytes = reader.u64("totalBytes");
  const checksum = reader.u32("checksum");
  const offset = reader.u64("offset");
  const last = reader.bool("last");
  const data = reader.bytesWithLength(limits.maxFrameBytes, "snapshot chunk");
  return {
    type: "installSnapshot",
    from,
    to,
    ballot,
    index,
    snapshotBallot,
    totalBytes,
    checksum,
    offset,
    data,
    last,
  };
}

/** Appends a standalone snapshot frame (for files and blobs); rolls back on error. */
export function encodeSnapshot(
  writer: WireWriter,
  snapshot: Snapshot,
  clusterTag: number,
  limits: WireLimits,
): number {
  const start = beginFrame(writer, clusterTag, SNAPSHOT_FRAME_TYPE);
  try {
    writeSnapshot(writer, snapshot);
    const frameBytes = endFrame(writer, start);
    if (frameBytes > limits.maxFrameBytes) {
      throw new WireEncodeError("LimitExceeded", `snapshot frame of ${frameBytes} bytes`);
    }
    return frameBytes;
  } catch (error) {
    writer.truncate(start);
    throw error;
  }
}

/** Decodes a standalone snapshot frame; throws only {@link WireDecodeError}. */
export function decodeSnapshot(
  frame: Uint8Array,
  clusterTag: number,
  limits: WireLimits,
): Snapshot {
  return guardDecode(() => {
    const { header, reader } = openFrame(frame, limits);
    if (header.clusterTag !== clusterTag) {
      throw new WireDecodeError(
        "WrongCluster",
        `cluster tag ${header.clusterTag} is not ${clusterTag}`,
      );
    }
    if (header.type !== SNAPSHOT_FRAME_TYPE) {
      throw new WireDecodeError("UnknownType", `type ${header.type} is not a snapshot`);
    }
    const snapshot = readSnapshot(reader, limits);
    expectEnd(reader);
    return snapshot;
  });
}
