import { EngineService, type SimResultChunk } from "../proto/generated/engine/v1/engine.js";

/**
 * An exact-size serializer for SimResultChunk, the message every BatchSimulate row travels in.
 *
 * The generated encoder builds a list of pieces, joins them into a Uint8Array and grpc-js copies
 * that into a Buffer again: three allocations of the chunk's size and three copies per chunk, and
 * at hundreds of kilobytes each the allocations alone keep the collector busy (external memory
 * pressure). This one measures the message first, allocates one Buffer and copies each column
 * straight from the typed array it lives in. Its bytes are those of the generated encoder
 * (field order, proto3 defaults omitted); a property test holds it to that.
 */

/** Field tags of SimResultChunk (engine.proto): (field number << 3) | wire type. */
const TAG_ID = (1 << 3) | 2;
const TAG_ROWS = (2 << 3) | 0;
/** Tags of EngineId's fields. */
const TAG_ENV_ID = (1 << 3) | 2;
const TAG_BUILD_ID = (2 << 3) | 2;

/** The bytes columns in field order, with their tags (fields 3 to 15, all length-delimited). */
const COLUMNS: readonly (readonly [keyof SimResultChunk, number])[] = [
  ["index", 3],
  ["step", 4],
  ["actions", 5],
  ["states", 6],
  ["obs", 7],
  ["rewards", 8],
  ["flags", 9],
  ["currentPlayers", 10],
  ["playerRewards", 11],
  ["statuses", 12],
  ["legalMasks", 13],
  ["finalObs", 14],
  ["finalStates", 15],
].map(([name, field]) => [name as keyof SimResultChunk, ((field as number) << 3) | 2] as const);

/** Bytes of `value` as a base-128 varint (value < 2^32). */
function varintBytes(value: number): number {
  if (value < 1 << 7) return 1;
  if (value < 1 << 14) return 2;
  if (value < 1 << 21) return 3;
  if (value < 1 << 28) return 4;
  return 5;
}

function writeVarint(out: Buffer, at: number, value: number): number {
  let v = value >>> 0;
  while (v >= 0x80) {
    out[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[at++] = v;
  return at;
}

/** Size of a length-delimited field of `length` bytes with a one-byte tag. */
const fieldBytes = (length: number): number => 1 + varintBytes(length) + length;

function writeBytesField(out: Buffer, at: number, tag: number, bytes: Uint8Array): number {
  out[at] = tag;
  const start = writeVarint(out, at + 1, bytes.length);
  out.set(bytes, start);
  return start + bytes.length;
}

function writeStringField(out: Buffer, at: number, tag: number, value: string, length: number) {
  out[at] = tag;
  const start = writeVarint(out, at + 1, length);
  return start + out.write(value, start, length, "utf8");
}

/**
 * The wire bytes of `chunk`, exactly as `SimResultChunk.encode(chunk).finish()` makes them: in a
 * fresh Buffer, or at the start of `into(size)`'s (at least `size` bytes).
 */
export function encodeSimResultChunk(
  chunk: SimResultChunk,
  into?: (size: number) => Buffer,
): Buffer {
  const envId = chunk.id?.envId ?? "";
  const buildId = chunk.id?.buildId ?? "";
  const envIdBytes = Buffer.byteLength(envId, "utf8");
  const buildIdBytes = Buffer.byteLength(buildId, "utf8");
  const idBytes =
    (envIdBytes > 0 ? fieldBytes(envIdBytes) : 0) +
    (buildIdBytes > 0 ? fieldBytes(buildIdBytes) : 0);
  let size = chunk.id === undefined ? 0 : fieldBytes(idBytes);
  if (chunk.rows !== 0) size += 1 + varintBytes(chunk.rows);
  for (const [name] of COLUMNS) {
    const length = (chunk[name] as Uint8Array).length;
    if (length !== 0) size += fieldBytes(length);
  }
  const out = into === undefined ? Buffer.allocUnsafe(size) : into(size).subarray(0, size);
  let at = 0;
  if (chunk.id !== undefined) {
    out[at] = TAG_ID;
    at = writeVarint(out, at + 1, idBytes);
    if (envIdBytes > 0) at = writeStringField(out, at, TAG_ENV_ID, envId, envIdBytes);
    if (buildIdBytes > 0) at = writeStringField(out, at, TAG_BUILD_ID, buildId, buildIdBytes);
  }
  if (chunk.rows !== 0) {
    out[at] = TAG_ROWS;
    at = writeVarint(out, at + 1, chunk.rows);
  }
  for (const [name, tag] of COLUMNS) {
    const bytes = chunk[name] as Uint8Array;
    if (bytes.length !== 0) at = writeBytesField(out, at, tag, bytes);
  }
  if (at !== size) throw new Error(`SimResultChunk encoder wrote ${at} of ${size} bytes`);
  return out;
}

/** Chunks encoded ahead of their write, with their bytes. */
const ENCODED = new WeakMap<SimResultChunk, Buffer>();

/**
 * Encodes `chunk` now, into a buffer from `into`, for the service to send as it is. The caller
 * keeps that buffer unchanged until the chunk's write completed (the stream's write callback).
 */
export function encodeAhead(chunk: SimResultChunk, into: (size: number) => Buffer): void {
  ENCODED.set(chunk, encodeSimResultChunk(chunk, into));
}

/** BatchSimulate's serializer: the bytes encoded ahead, or the chunk encoded now. */
export function serializeSimResultChunk(chunk: SimResultChunk): Buffer {
  return ENCODED.get(chunk) ?? encodeSimResultChunk(chunk);
}

/** How much larger than the chunk at hand a new output buffer is. */
const ENCODE_HEADROOM = 1.125;

/**
 * Output buffers of one stream, reused once each chunk's write completed: grpc-js copies the
 * message into a frame of its own anyway, so a long stream needs a couple of buffers, not one
 * per chunk for the collector to chase (that churn alone set off a full collection every few
 * dozen chunks).
 */
export class EncodeBuffers {
  private readonly spare: Buffer[] = [];

  /**
   * `maxSpare`: the most buffers kept, the stream's chunks in flight at most (writes complete in
   * bursts, and a smaller pool would drop buffers a burst gives back only to allocate anew).
   */
  constructor(private readonly maxSpare: number) {}

  /** A buffer of at least `size` bytes (contents undefined). */
  take(size: number): Buffer {
    const spare = this.spare.pop();
    if (spare !== undefined && spare.length >= size) return spare;
    // Headroom, because a stream's chunks differ a little in size (whole episodes per chunk).
    return Buffer.allocUnsafeSlow(Math.ceil(size * ENCODE_HEADROOM));
  }

  /** Gives back a buffer from `take` whose chunk has been written. */
  give(buffer: Buffer): void {
    if (this.spare.length < this.maxSpare) this.spare.push(buffer);
  }
}

/** The Engine service definition, with BatchSimulate's chunks written by `serializeSimResultChunk`. */
export const ENGINE_SERVICE_DEFINITION = {
  ...EngineService,
  batchSimulate: { ...EngineService.batchSimulate, responseSerialize: serializeSimResultChunk },
} as const satisfies typeof EngineService;
