import type { Command, Entry, SlotValue, Snapshot } from "../core/entry.js";
import { NOOP } from "../core/entry.js";
import { WireDecodeError, WireEncodeError } from "./errors.js";
import type { WireLimits } from "./limits.js";
import type { WireReader } from "./reader.js";
import type { WireWriter } from "./writer.js";

const VALUE_NOOP = 0;
const VALUE_BATCH = 1;

/** Smallest encoded entry: index, ballot, value kind. */
const MIN_ENTRY_BYTES = 8 + 8 + 1;
/** Smallest encoded command: client id length, request id, payload length. */
const MIN_COMMAND_BYTES = 2 + 8 + 4;

/**
 * Entry layout: `u64 index, u64 ballot, u8 kind` then, for a batch, `u32 count` and per command
 * `u16 clientIdLength, clientId (UTF-8), u64 requestId, u32 payloadLength, payload`.
 * Shared by messages, snapshots and (if it wants) the WAL.
 */
export function writeEntry(writer: WireWriter, entry: Entry, limits: WireLimits): void {
  writer.u64(entry.index, "entry index");
  writer.u64(entry.ballot, "entry ballot");
  writeSlotValue(writer, entry.value, limits);
}

function writeSlotValue(writer: WireWriter, value: SlotValue, limits: WireLimits): void {
  if (value.kind === "noop") {
    writer.u8(VALUE_NOOP);
    return;
  }
  const commands = value.commands;
  if (commands.length > limits.maxCommandsPerEntry) {
    throw new WireEncodeError("LimitExceeded", `${commands.length} commands in one slot`);
  }
  writer.u8(VALUE_BATCH);
  writer.u32(commands.length);
  for (const command of commands) {
    writer.string(command.clientId, 2, limits.maxClientIdBytes, "client id");
    writer.u64(command.requestId, "request id");
    if (command.payload.byteLength > limits.maxPayloadBytes) {
      throw new WireEncodeError("LimitExceeded", `payload of ${command.payload.byteLength} bytes`);
    }
    writer.bytesWithLength(command.payload);
  }
}

export function readEntry(reader: WireReader, limits: WireLimits): Entry {
  const index = reader.u64("entry index");
  const ballot = reader.u64("entry ballot");
  return { index, ballot, value: readSlotValue(reader, limits) };
}

function readSlotValue(reader: WireReader, limits: WireLimits): SlotValue {
  const kind = reader.u8("slot value kind");
  if (kind === VALUE_NOOP) {
    return NOOP;
  }
  if (kind !== VALUE_BATCH) {
    throw new WireDecodeError("InvalidField", `slot value kind ${kind}`);
  }
  const count = readCount(reader, limits.maxCommandsPerEntry, MIN_COMMAND_BYTES, "commands");
  const commands: Command[] = new Array(count);
  for (let i = 0; i < count; i += 1) {
    const clientId = reader.string(2, limits.maxClientIdBytes, "client id");
    const requestId = reader.u64("request id");
    const payload = reader.bytesWithLength(limits.maxPayloadBytes, "payload");
    commands[i] = { clientId, requestId, payload };
  }
  return { kind: "batch", commands };
}

/** Writes a u32 entry count then the entries. */
export function writeEntries(
  writer: WireWriter,
  entries: readonly Entry[],
  limits: WireLimits,
): void {
  if (entries.length > limits.maxEntriesPerMessage) {
    throw new WireEncodeError("LimitExceeded", `${entries.length} entries in one message`);
  }
  writer.u32(entries.length);
  for (const entry of entries) {
    writeEntry(writer, entry, limits);
  }
}

export function readEntries(reader: WireReader, limits: WireLimits): Entry[] {
  const count = readCount(reader, limits.maxEntriesPerMessage, MIN_ENTRY_BYTES, "entries");
  const entries: Entry[] = new Array(count);
  for (let i = 0; i < count; i += 1) {
    entries[i] = readEntry(reader, limits);
  }
  return entries;
}

/**
 * A u32 count checked against its limit and against the bytes left (each item needs at least
 * `minItemBytes`), so the array allocated for it is never larger than the frame could fill.
 */
function readCount(reader: WireReader, max: number, minItemBytes: number, field: string): number {
  const count = reader.u32(field);
  if (count > max) {
    throw new WireDecodeError("LimitExceeded", `${count} ${field}, over ${max}`);
  }
  if (count * minItemBytes > reader.remaining()) {
    throw new WireDecodeError("Truncated", `${count} ${field} cannot fit in the frame`);
  }
  return count;
}

/** Snapshot layout: `u64 index, u64 ballot, u32 dataLength, data`. */
export function writeSnapshot(writer: WireWriter, snapshot: Snapshot): void {
  writer.u64(snapshot.index, "snapshot index");
  writer.u64(snapshot.ballot, "snapshot ballot");
  writer.bytesWithLength(snapshot.data);
}

export function readSnapshot(reader: WireReader, limits: WireLimits): Snapshot {
  const index = reader.u64("snapshot index");
  const ballot = reader.u64("snapshot ballot");
  const data = reader.bytesWithLength(limits.maxFrameBytes, "snapshot data");
  return { index, ballot, data };
}
