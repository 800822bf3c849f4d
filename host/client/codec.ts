import { type Capabilities, DType } from "../proto/generated/engine/v1/engine.js";

/**
 * Decoding of observation and column bytes, and encoding of actions, following the capabilities a
 * server declares. All multi-byte values on the wire are little-endian (see engine.proto).
 */

/** A decoded observation: a flat tensor in row-major order (see `Capabilities.obsSpec.shape`). */
export type Observation = Float32Array | Uint8Array | Int32Array;

/** An action as a Gymnasium user writes it: a number (discrete) or an array (multi/box). */
export type Action = number | readonly number[] | Float32Array | Uint32Array;

/**
 * Copies `bytes` into a fresh, aligned ArrayBuffer when its offset does not fit `align`. The copy
 * goes through `Uint8Array.prototype.slice`: received bytes are often Buffers, whose own `slice`
 * is a view, so its `.buffer` at offset 0 would read the wrong bytes.
 */
function aligned(bytes: Uint8Array, align: number): { buffer: ArrayBufferLike; offset: number } {
  if (bytes.byteOffset % align === 0) return { buffer: bytes.buffer, offset: bytes.byteOffset };
  return { buffer: Uint8Array.prototype.slice.call(bytes).buffer, offset: 0 };
}

export function f32View(bytes: Uint8Array): Float32Array {
  const { buffer, offset } = aligned(bytes, 4);
  return new Float32Array(buffer, offset, bytes.byteLength >>> 2);
}

export function u32View(bytes: Uint8Array): Uint32Array {
  const { buffer, offset } = aligned(bytes, 4);
  return new Uint32Array(buffer, offset, bytes.byteLength >>> 2);
}

export function i32View(bytes: Uint8Array): Int32Array {
  const { buffer, offset } = aligned(bytes, 4);
  return new Int32Array(buffer, offset, bytes.byteLength >>> 2);
}

export function i8View(bytes: Uint8Array): Int8Array {
  return new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function u8View(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decodes observation bytes (one or many observations) per the env's observation dtype. */
export function decodeObs(caps: Capabilities, bytes: Uint8Array): Observation {
  switch (caps.obsSpec?.dtype) {
    case DType.D_TYPE_F32:
      return f32View(bytes);
    case DType.D_TYPE_I32:
      return i32View(bytes);
    case DType.D_TYPE_U8:
      return u8View(bytes);
    default:
      throw new Error(
        `env ${caps.id?.envId} declares an observation dtype this client cannot decode`,
      );
  }
}

const SEED_LIMIT = 1n << 64n;

/**
 * A seed as the wire carries it (uint64). Seeds outside [0, 2^64) and numbers that are not safe
 * integers throw a RangeError rather than being wrapped or rounded, which would silently replay
 * another seed's episode.
 */
export function toSeed(seed: bigint | number): bigint {
  if (typeof seed === "number" && !Number.isSafeInteger(seed)) {
    throw new RangeError(
      `seed ${seed} is not a safe integer; pass a bigint for seeds of 2^53 and above`,
    );
  }
  const value = BigInt(seed);
  if (value < 0n || value >= SEED_LIMIT) {
    throw new RangeError(`seed ${value} is outside the uint64 range [0, 2^64)`);
  }
  return value;
}

/** Checks an integer action value before it is written as a u32 (no rounding, no wrapping). */
function u32Action(caps: Capabilities, value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new RangeError(
      `env ${caps.id?.envId}: ${what} is ${value}; it must be a whole number in [0, 2^32)`,
    );
  }
  return value;
}

/** Encodes one action per the env's action space; throws a clear error for the wrong shape. */
export function encodeAction(caps: Capabilities, action: Action): Buffer {
  const space = caps.actionSpace;
  const bytes = Buffer.alloc(caps.actionBytes);
  if (space?.$case === "discreteN") {
    if (typeof action !== "number") {
      throw new TypeError(`env ${caps.id?.envId} has a discrete action space: pass a number`);
    }
    bytes.writeUInt32LE(u32Action(caps, action, "action"), 0);
    return bytes;
  }
  if (typeof action === "number") {
    throw new TypeError(
      `env ${caps.id?.envId} needs an array action of ${caps.actionBytes / 4} values`,
    );
  }
  if (action.length * 4 !== caps.actionBytes) {
    throw new TypeError(
      `env ${caps.id?.envId} needs ${caps.actionBytes / 4} action values; got ${action.length}`,
    );
  }
  for (let i = 0; i < action.length; i++) {
    const value = action[i] ?? 0;
    if (space?.$case === "continuous") bytes.writeFloatLE(value, 4 * i);
    else bytes.writeUInt32LE(u32Action(caps, value, `action[${i}]`), 4 * i);
  }
  return bytes;
}
