import type { Ballot } from "./ballot.js";

/**
 * Most UTF-8 bytes of a command's client id. Engines refuse a longer one at `propose`, so the
 * leader never places a command in a slot that the wire codec (which carries ids up to this
 * length) could not send to its peers.
 */
export const MAX_CLIENT_ID_BYTES = 1024;

/** One client command inside a slot. `clientId` + `requestId` identify it for deduplication. */
export interface Command {
  readonly clientId: string;
  readonly requestId: number;
  readonly payload: Uint8Array;
}

/**
 * The value of a slot: either a no-op (used to fill slots a new leader finds empty) or a batch of
 * commands that were proposed together.
 */
export type SlotValue =
  | { readonly kind: "noop" }
  | { readonly kind: "batch"; readonly commands: readonly Command[] };

/** A slot of the replicated log as one acceptor holds it: the value it accepted and at which ballot. */
export interface Entry {
  readonly index: number;
  readonly ballot: Ballot;
  readonly value: SlotValue;
}

/** State that must be durable before any message that depends on it is sent. */
export interface HardState {
  /** The highest ballot this acceptor has promised; it never accepts a lower one. */
  readonly promisedBallot: Ballot;
  /** Every slot at or below this index is chosen and its chosen value is in the log or snapshot. */
  readonly commitIndex: number;
}

/** A state-machine snapshot covering every slot up to and including `index`. */
export interface Snapshot {
  readonly index: number;
  readonly ballot: Ballot;
  readonly data: Uint8Array;
}

/** The value every slot below the first real entry is treated as having. */
export const NOOP: SlotValue = { kind: "noop" };

/** Fixed per-command overhead counted by the byte limits, so empty payloads are not free. */
export const COMMAND_OVERHEAD_BYTES = 32;

/** The number of bytes a slot value counts for against message and batch limits. */
export function slotValueBytes(value: SlotValue): number {
  if (value.kind === "noop") {
    return COMMAND_OVERHEAD_BYTES;
  }
  let bytes = 0;
  for (const command of value.commands) {
    bytes += commandBytes(command);
  }
  return bytes;
}

/** The number of bytes a command counts for against batch limits. */
export function commandBytes(command: Command): number {
  return command.payload.byteLength + command.clientId.length + COMMAND_OVERHEAD_BYTES;
}
