import {
  type ChannelCredentials,
  type ClientOptions,
  makeGenericClientConstructor,
} from "@grpc/grpc-js";
import {
  EngineId,
  EngineService,
  type EngineClient as GeneratedEngineClient,
  SimResultChunk,
} from "../proto/generated/engine/v1/engine.js";

/**
 * A SimResultChunk decoder whose columns are views of the received bytes.
 *
 * The generated decoder copies every bytes field into a Buffer of its own; for BatchSimulate
 * that is every row's bytes copied once more on the client, for columns a caller may never read.
 * This one records where each column lies in the message and hands out `subarray` views, so a
 * client that counts rows pays per chunk, not per byte. The result equals the generated
 * decoder's (the same fields, the last occurrence of a repeated field winning, unknown fields
 * skipped); a property test holds it to that. Anything it does not expect (groups, a malformed
 * message) goes to the generated decoder, which reports errors its own way.
 */

/** Wire types (the low three bits of a tag). */
const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

/** Field numbers 3 to 15 of SimResultChunk, the bytes columns, by number. */
const COLUMN_OF_FIELD: readonly (keyof SimResultChunk | undefined)[] = [
  undefined,
  undefined,
  undefined,
  "index",
  "step",
  "actions",
  "states",
  "obs",
  "rewards",
  "flags",
  "currentPlayers",
  "playerRewards",
  "statuses",
  "legalMasks",
  "finalObs",
  "finalStates",
];

class Malformed extends Error {}

/** A forward-only reader of varints over `bytes`. */
class Cursor {
  at = 0;
  constructor(readonly bytes: Buffer) {}

  /** A varint of at most 64 bits, returned modulo 2^32 (as uint32 fields are read). */
  varint32(): number {
    let value = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.at >= this.bytes.length) throw new Malformed();
      const byte = this.bytes[this.at++]!;
      if (shift < 32) value |= (byte & 0x7f) << shift;
      if (byte < 0x80) return value >>> 0;
    }
    throw new Malformed();
  }

  skip(length: number): void {
    if (length > this.bytes.length - this.at) throw new Malformed();
    this.at += length;
  }
}

function emptyChunk(empty: Buffer): SimResultChunk {
  return {
    id: undefined,
    rows: 0,
    index: empty,
    step: empty,
    actions: empty,
    states: empty,
    obs: empty,
    rewards: empty,
    flags: empty,
    currentPlayers: empty,
    playerRewards: empty,
    statuses: empty,
    legalMasks: empty,
    finalObs: empty,
    finalStates: empty,
  };
}

function decodeViews(bytes: Buffer): SimResultChunk {
  const chunk = emptyChunk(bytes.subarray(0, 0));
  const columns = chunk as unknown as Record<string, Buffer>;
  const cursor = new Cursor(bytes);
  while (cursor.at < bytes.length) {
    const tag = cursor.varint32();
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (field === 0) throw new Malformed();
    if (wireType === LENGTH_DELIMITED) {
      const length = cursor.varint32();
      const start = cursor.at;
      cursor.skip(length);
      const column = COLUMN_OF_FIELD[field];
      if (column !== undefined) columns[column] = bytes.subarray(start, start + length);
      else if (field === 1) chunk.id = EngineId.decode(bytes.subarray(start, start + length));
    } else if (wireType === VARINT) {
      const value = cursor.varint32();
      if (field === 2) chunk.rows = value;
    } else if (wireType === FIXED64) {
      cursor.skip(8);
    } else if (wireType === FIXED32) {
      cursor.skip(4);
    } else {
      throw new Malformed();
    }
  }
  return chunk;
}

/** Decodes a SimResultChunk; its bytes fields are views of `bytes`, which must not change. */
export function decodeSimResultChunk(bytes: Buffer): SimResultChunk {
  try {
    return decodeViews(bytes);
  } catch (error) {
    if (error instanceof Malformed) return SimResultChunk.decode(bytes);
    throw error;
  }
}

/** The Engine service definition, with BatchSimulate's chunks read by `decodeSimResultChunk`. */
const CLIENT_ENGINE_SERVICE = {
  ...EngineService,
  batchSimulate: { ...EngineService.batchSimulate, responseDeserialize: decodeSimResultChunk },
} as const satisfies typeof EngineService;

/** The generated client's type, built over `CLIENT_ENGINE_SERVICE`. */
export const ViewingEngineClient = makeGenericClientConstructor(
  CLIENT_ENGINE_SERVICE,
  "engine.v1.Engine",
) as unknown as new (
  address: string,
  credentials: ChannelCredentials,
  options?: Partial<ClientOptions>,
) => GeneratedEngineClient;
