import { BALLOT_REPLICA_SPACE, type Ballot, ballotOwner, MAX_BALLOT } from "./ballot.js";
import type { CoreOptions } from "./config.js";
import { type Entry, slotValueBytes } from "./entry.js";
import type { InstallSnapshotMessage, Message } from "./messages.js";
import type { RejectReason } from "./stats.js";

/** What the receiving replica checks messages against. */
export interface ValidationContext {
  /** The receiver's replica id. */
  readonly self: number;
  /** Replica ids of the cluster's members (the receiver included). */
  readonly members: ReadonlySet<number>;
  readonly options: CoreOptions;
}

/** Whose ballot a message type carries. */
type BallotRule =
  /** The sender's own ballot (it proposes, prepares or leads with it); never 0. */
  | "sender"
  /** The receiver's ballot, echoed in a reply to it; never 0. */
  | "receiver"
  /** The ballot the sender promised, owned by any member, or 0. */
  | "any";

const BALLOT_RULES: Readonly<Record<Message["type"], BallotRule>> = {
  preVote: "sender",
  preVoteReply: "receiver",
  prepare: "sender",
  promise: "receiver",
  accept: "sender",
  accepted: "receiver",
  acceptGap: "receiver",
  heartbeat: "sender",
  status: "any",
  learn: "sender",
  installSnapshot: "any",
  snapshotAck: "any",
  nack: "any",
};

/**
 * Checks an inbound message before it may touch any state; returns why it must be refused, or
 * undefined when it is well formed. The cluster id is not checked here: it lives in the wire
 * layer's frame header and handshake, so a message from another cluster never reaches the core.
 *
 * "Well formed" is about shape, not truth: a member can still send a stale or lying message that
 * passes (the protocol handles stale ones; members are trusted not to lie). The function never
 * throws, whatever the input, so a transport callback can call it on anything it decoded.
 */
export function validateMessage(
  message: Message,
  context: ValidationContext,
): RejectReason | undefined {
  if (typeof message !== "object" || message === null) {
    return "malformed";
  }
  if (message.to !== context.self || message.from === context.self) {
    return "misaddressed";
  }
  if (!context.members.has(message.from)) {
    return "notMember";
  }
  const rule = Object.hasOwn(BALLOT_RULES, message.type) ? BALLOT_RULES[message.type] : undefined;
  if (rule === undefined) {
    return "unknownType";
  }
  if (!isBallot(message.ballot, context) || !ballotFits(message.ballot, rule, message)) {
    return "badBallot";
  }
  return validateBody(message, context);
}

function validateBody(message: Message, context: ValidationContext): RejectReason | undefined {
  switch (message.type) {
    case "preVote":
    case "heartbeat":
      return isIndex(message.commitIndex) ? undefined : "badIndex";
    case "preVoteReply":
      return typeof message.granted === "boolean" ? undefined : "malformed";
    case "nack":
      return undefined;
    case "prepare":
      return isSlot(message.fromIndex) && isIndex(message.commitIndex) ? undefined : "badIndex";
    case "status":
    case "acceptGap":
      return isIndex(message.commitIndex) &&
        isIndex(message.lastIndex) &&
        message.commitIndex <= message.lastIndex
        ? undefined
        : "badIndex";
    case "accepted":
      if (
        !isSlot(message.fromIndex) ||
        !isIndex(message.toIndex) ||
        message.fromIndex > message.toIndex ||
        !isIndex(message.commitIndex) ||
        !isIndex(message.lastIndex) ||
        message.toIndex > message.lastIndex ||
        message.commitIndex > message.lastIndex
      ) {
        return "badIndex";
      }
      return message.toIndex - message.fromIndex < context.options.maxEntriesPerMessage
        ? undefined
        : "tooLarge";
    case "accept":
      if (!isIndex(message.commitIndex)) {
        return "badIndex";
      }
      return validateEntries(message.entries, undefined, true, context);
    case "learn":
      return validateEntries(message.entries, undefined, true, context);
    case "promise":
      if (
        !isSlot(message.fromIndex) ||
        !isIndex(message.lastIndex) ||
        !isIndex(message.commitIndex)
      ) {
        return "badIndex";
      }
      return (
        validateEntries(message.entries, message.fromIndex, false, context) ??
        (lastEntryIndex(message.entries) > message.lastIndex ? "badEntries" : undefined)
      );
    case "installSnapshot":
      return validateChunk(message, context);
    case "snapshotAck":
      return isSlot(message.index) &&
        isIndex(message.offset) &&
        message.offset <= context.options.maxSnapshotBytes
        ? undefined
        : "badIndex";
    default:
      return "unknownType";
  }
}

/**
 * Entries must be an array of well-formed entries for contiguous slots, starting at `firstIndex`
 * when given (else at any slot >= 1), non-empty if `required`, and within the message limits.
 */
function validateEntries(
  entries: readonly Entry[],
  firstIndex: number | undefined,
  required: boolean,
  context: ValidationContext,
): RejectReason | undefined {
  if (!Array.isArray(entries)) {
    return "malformed";
  }
  if (entries.length > context.options.maxEntriesPerMessage) {
    return "tooLarge";
  }
  if (entries.length === 0) {
    return required ? "badEntries" : undefined;
  }
  let expected = firstIndex ?? (entries[0] as Entry | undefined)?.index;
  if (expected === undefined || !isSlot(expected)) {
    return "badEntries";
  }
  let bytes = 0;
  for (const entry of entries) {
    if (!isEntry(entry, context) || entry.index !== expected) {
      return "badEntries";
    }
    bytes += slotValueBytes(entry.value);
    if (bytes > context.options.maxMessageBytes) {
      return "tooLarge";
    }
    expected += 1;
  }
  return undefined;
}

function isEntry(entry: Entry, context: ValidationContext): boolean {
  if (typeof entry !== "object" || entry === null || !isSlot(entry.index)) {
    return false;
  }
  if (!isBallot(entry.ballot, context)) {
    return false;
  }
  const value = entry.value;
  if (typeof value !== "object" || value === null) {
    return false;
  }
  if (value.kind === "noop") {
    return true;
  }
  if (value.kind !== "batch" || !Array.isArray(value.commands)) {
    return false;
  }
  const commands = value.commands;
  if (commands.length === 0 || commands.length > context.options.maxBatchCommands) {
    return false;
  }
  return commands.every(
    (command) =>
      typeof command === "object" &&
      command !== null &&
      typeof command.clientId === "string" &&
      isIndex(command.requestId) &&
      command.payload instanceof Uint8Array,
  );
}

function validateChunk(
  message: InstallSnapshotMessage,
  context: ValidationContext,
): RejectReason | undefined {
  if (!isSlot(message.index) || !isBallot(message.snapshotBallot, context)) {
    return "badSnapshotChunk";
  }
  const { totalBytes, offset, data } = message;
  if (!isIndex(totalBytes) || totalBytes > context.options.maxSnapshotBytes) {
    return "badSnapshotChunk";
  }
  if (
    !Number.isInteger(message.checksum) ||
    message.checksum < 0 ||
    message.checksum > 0xffffffff
  ) {
    return "badSnapshotChunk";
  }
  if (!(data instanceof Uint8Array) || typeof message.last !== "boolean") {
    return "malformed";
  }
  if (data.byteLength > context.options.maxMessageBytes) {
    return "badSnapshotChunk";
  }
  if (!isIndex(offset) || offset + data.byteLength > totalBytes) {
    return "badSnapshotChunk";
  }
  // Only an empty snapshot travels as an empty chunk; `last` must say what the offsets say.
  if (data.byteLength === 0 && totalBytes !== 0) {
    return "badSnapshotChunk";
  }
  return message.last === (offset + data.byteLength === totalBytes)
    ? undefined
    : "badSnapshotChunk";
}

function ballotFits(ballot: Ballot, rule: BallotRule, message: Message): boolean {
  switch (rule) {
    case "sender":
      return ballot !== 0 && ballotOwner(ballot) === message.from;
    case "receiver":
      return ballot !== 0 && ballotOwner(ballot) === message.to;
    case "any":
      return true;
  }
}

/** A ballot number whose owner is a member (or ballot 0), small enough to be outbid safely. */
function isBallot(ballot: Ballot, context: ValidationContext): boolean {
  if (!Number.isSafeInteger(ballot) || ballot < 0 || ballot > MAX_BALLOT) {
    return false;
  }
  return (
    ballot === 0 || (ballot >= BALLOT_REPLICA_SPACE && context.members.has(ballotOwner(ballot)))
  );
}

function lastEntryIndex(entries: readonly Entry[]): number {
  return entries.at(-1)?.index ?? 0;
}

/** A slot index, commit index, count or byte offset: a non-negative safe integer. */
function isIndex(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/** A real slot (slot 0 does not exist). */
function isSlot(value: number): boolean {
  return isIndex(value) && value >= 1;
}
