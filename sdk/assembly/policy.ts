// The rollout policy of docs/abi.md section 4: uniform over the legal actions (discrete and
// multi-discrete, each dimension independently) or uniform in [low, high] (box). It writes action
// bytes, so the game decodes policy actions exactly as it decodes the host's.

import { Rng } from "./rng";

/** Masks that keep each byte's own bits when shifting a u64 right by 4, 2 and 1. */
const LOW_NIBBLES: u64 = 0x0f0f0f0f0f0f0f0f;
const LOW_PAIRS: u64 = 0x3333333333333333;
const LOW_BITS: u64 = 0x5555555555555555;
const BYTE_ONES: u64 = 0x0101010101010101;
/** Multiplying by this moves bit 0 of byte i to bit 56 + i (the partial products never overlap). */
const GATHER: u64 = 0x0102040810204080;
/** Longest mask `pickLegalPadded` takes as one u64 of bits. */
const BITS_MAX = 64;
/** Readable bytes `pickLegalPadded` needs after the end of a mask. */
export const MASK_PADDING_BYTES = 8;

/** Eight mask bytes as a u64 with bit 0 of each byte set exactly when that byte is non-zero. */
// @ts-ignore: decorator
@inline function legalBits(bytes: u64): u64 {
  let t = bytes | ((bytes >> 4) & LOW_NIBBLES);
  t |= (t >> 2) & LOW_PAIRS;
  t |= (t >> 1) & LOW_BITS;
  return t & BYTE_ONES;
}

/**
 * Picks a uniformly random index among the `length` mask bytes at `mask` that are non-zero (the
 * k-th legal index, in order, for k uniform below their count). Returns -1 when none is legal.
 * Eight bytes are counted at a time, so a tic-tac-toe mask costs two loop turns, not eighteen.
 */
export function pickLegal(rng: Rng, mask: usize, length: i32): i32 {
  const whole = length & ~7;
  let legal: u32 = 0;
  for (let i = 0; i < whole; i += 8) {
    legal += <u32>popcnt<u64>(legalBits(load<u64>(mask + <usize>i)));
  }
  for (let i = whole; i < length; i++) legal += <u32>(load<u8>(mask + <usize>i) != 0);
  if (legal == 0) return -1;
  let chosen = rng.nextBelow(legal);
  for (let i = 0; i < whole; i += 8) {
    let bits = legalBits(load<u64>(mask + <usize>i));
    const count = <u32>popcnt<u64>(bits);
    if (chosen < count) {
      // Drop the lowest `chosen` legal bytes; the lowest remaining one is the pick.
      for (; chosen > 0; chosen--) bits &= bits - 1;
      return i + <i32>(ctz<u64>(bits) >> 3);
    }
    chosen -= count;
  }
  for (let i = whole; i < length; i++) {
    if (load<u8>(mask + <usize>i) != 0) {
      if (chosen == 0) return i;
      chosen--;
    }
  }
  return -1;
}

/**
 * The same pick as `pickLegal` (same draws, same result), for a mask followed by at least
 * MASK_PADDING_BYTES readable bytes, such as the adapter's own scratch mask. Up to 64 actions, the
 * mask becomes one u64 of bits in eight-byte loads (the bytes past `length` are masked off), so
 * the count and the pick need no second pass over the bytes: this runs on every rollout step.
 */
export function pickLegalPadded(rng: Rng, mask: usize, length: i32): i32 {
  if (length > BITS_MAX) return pickLegal(rng, mask, length);
  let bits: u64 = 0;
  for (let i = 0; i < length; i += 8) {
    let bytes = load<u64>(mask + <usize>i);
    const left = length - i;
    if (left < 8) bytes &= (<u64>1 << (<u64>left << 3)) - 1;
    bits |= ((legalBits(bytes) * GATHER) >> 56) << <u64>i;
  }
  if (bits == 0) return -1;
  return pickBit(bits, rng.nextBelow(<u32>popcnt<u64>(bits)), BITS_MAX);
}

/**
 * The same pick for a legal set given as bits (bit i set when action i is legal, from a game's
 * `legalBits`), with `width` an upper bound on the highest bit + 1 (a compile-time constant in
 * the adapter). Returns -1 when no action is legal.
 */
// @ts-ignore: decorator
@inline export function pickLegalBits(rng: Rng, bits: u64, width: i32): i32 {
  if (bits == 0) return -1;
  return pickBit(bits, rng.nextBelow(<u32>popcnt<u64>(bits)), width);
}

/**
 * The index of the `k`-th lowest set bit of `bits` (k counted from 0, below popcnt(bits)), for
 * bits below bit `width`. A binary search over halves that counts the low half's bits and moves
 * to the high half when k is past them; every step is a select, not a branch, because k is random
 * and a branch on it would be mispredicted about half the time. Halves of `width` or more bits are
 * skipped (the width is a constant where it matters, so they vanish at compile time).
 */
// @ts-ignore: decorator
@inline export function pickBit(bits: u64, k: u32, width: i32): i32 {
  let rest = bits;
  let left = k;
  let at: u32 = 0;
  if (width > 32) {
    const low = <u32>popcnt<u64>(rest & 0xffffffff);
    const up = left >= low;
    left -= select<u32>(low, 0, up);
    at += select<u32>(32, 0, up);
    rest = select<u64>(rest >> 32, rest, up);
  }
  if (width > 16) {
    const low = <u32>popcnt<u64>(rest & 0xffff);
    const up = left >= low;
    left -= select<u32>(low, 0, up);
    at += select<u32>(16, 0, up);
    rest = select<u64>(rest >> 16, rest, up);
  }
  if (width > 8) {
    const low = <u32>popcnt<u64>(rest & 0xff);
    const up = left >= low;
    left -= select<u32>(low, 0, up);
    at += select<u32>(8, 0, up);
    rest = select<u64>(rest >> 8, rest, up);
  }
  if (width > 4) {
    const low = <u32>popcnt<u64>(rest & 0xf);
    const up = left >= low;
    left -= select<u32>(low, 0, up);
    at += select<u32>(4, 0, up);
    rest = select<u64>(rest >> 4, rest, up);
  }
  if (width > 2) {
    const low = <u32>popcnt<u64>(rest & 0x3);
    const up = left >= low;
    left -= select<u32>(low, 0, up);
    at += select<u32>(2, 0, up);
    rest = select<u64>(rest >> 2, rest, up);
  }
  // Two bits left: bit 0 is the pick when it is set and k is 0.
  return <i32>(at + <u32>(left >= <u32>(rest & 1)));
}

/** Writes a uniformly random box action (one f32 per element) at `out`. */
export function writeUniformBox(
  rng: Rng,
  low: StaticArray<f32>,
  high: StaticArray<f32>,
  out: usize,
): void {
  const n = low.length;
  for (let i = 0; i < n; i++) {
    const lo = unchecked(low[i]);
    const hi = unchecked(high[i]);
    const width = hi - lo;
    const f = rng.nextFloat();
    // A box wider than the f32 range (low near -3.4e38, high near 3.4e38) makes `hi - lo`
    // infinite, and every draw would land on `hi` (or be NaN for f = 0): take that case in f64,
    // which holds the width exactly. Ordinary boxes keep the f32 formula, so their rollouts are
    // unchanged.
    let value: f32 = isFinite(width)
      ? lo + f * width
      : <f32>(<f64>lo + <f64>f * (<f64>hi - <f64>lo));
    // Rounding can push lo + f * (hi - lo) a hair past hi; the box is closed, so clamp.
    if (value > hi) value = hi;
    store<f32>(out + (<usize>i << 2), value);
  }
}
