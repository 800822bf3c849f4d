// The SDK's deterministic generator: xoshiro128** (Blackman and Vigna), seeded from a 64-bit seed
// by SplitMix64 as docs/abi.md section 6 prescribes. It is the only source of randomness a
// cartridge has (cartridges import nothing but env.abort), and its 16-byte state can be saved into
// a game's state bytes so that a stochastic step stays a pure function of its input bytes.

/** Size in bytes of a saved generator state (four little-endian u32 words). */
export const RNG_STATE_BYTES: i32 = 16;

const SPLITMIX_GAMMA: u64 = 0x9e3779b97f4a7c15;

/** One SplitMix64 output for the stream position `state` (already advanced by the gamma). */
// @ts-ignore: decorator
@inline function splitMixOutput(state: u64): u64 {
  let z = state;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  return z ^ (z >> 31);
}

/**
 * xoshiro128**: 128 bits of state, period 2^128 - 1, passes BigCrush, and needs only 32-bit
 * arithmetic, which WebAssembly does natively. Allocate it once and reseed it; every method is
 * allocation-free.
 */
export class Rng {
  s0: u32 = 1;
  s1: u32 = 0;
  s2: u32 = 0;
  s3: u32 = 0;

  /**
   * Seeds the generator from `seed` on stream `stream`: SplitMix64 started at `seed` produces
   * outputs 2*stream+1 and 2*stream+2, whose low and high halves become s0..s3. The adapter uses
   * stream 0 for the game and stream 1 for the rollout policy, so the two never share a sequence.
   */
  seed(seed: u64, stream: u32 = 0): void {
    const base = seed + SPLITMIX_GAMMA * (<u64>stream * 2);
    const a = splitMixOutput(base + SPLITMIX_GAMMA);
    const b = splitMixOutput(base + SPLITMIX_GAMMA * 2);
    this.s0 = <u32>a;
    this.s1 = <u32>(a >> 32);
    this.s2 = <u32>b;
    this.s3 = <u32>(b >> 32);
    // The all-zero state is the one fixed point of xoshiro; SplitMix64 is a bijection, so this
    // needs two specific 64-bit outputs in a row, but the guard costs nothing.
    if ((this.s0 | this.s1 | this.s2 | this.s3) == 0) this.s0 = 1;
  }

  /** Copies the state of `other` into this generator. */
  copyFrom(other: Rng): void {
    this.s0 = other.s0;
    this.s1 = other.s1;
    this.s2 = other.s2;
    this.s3 = other.s3;
  }

  /** The next 32 uniformly distributed bits. */
  // @ts-ignore: decorator
  @inline nextU32(): u32 {
    const s0 = this.s0;
    const s1 = this.s1;
    const s2 = this.s2 ^ s0;
    const s3 = this.s3 ^ s1;
    const result = rotl<u32>(s1 * 5, 7) * 9;
    this.s0 = s0 ^ s3;
    this.s1 = s1 ^ s2;
    this.s2 = s2 ^ (s1 << 9);
    this.s3 = rotl<u32>(s3, 11);
    return result;
  }

  /** A uniform f32 in [0, 1): the top 24 bits scaled by 2^-24, so every value is exact. */
  // @ts-ignore: decorator
  @inline nextFloat(): f32 {
    return <f32>(this.nextU32() >>> 8) * (1.0 / 16777216.0);
  }

  /**
   * A uniform integer in [0, n), without modulo bias (Lemire's multiply-and-reject method). Returns
   * 0 when `n` is 0. Inlined: the policy draws one on every rollout step.
   */
  // @ts-ignore: decorator
  @inline nextBelow(n: u32): u32 {
    let product = <u64>this.nextU32() * <u64>n;
    let low = <u32>product;
    if (low < n) {
      // Reject the few low products that would over-represent some results.
      const threshold: u32 = (<u32>0 - n) % n;
      while (low < threshold) {
        product = <u64>this.nextU32() * <u64>n;
        low = <u32>product;
      }
    }
    return <u32>(product >> 32);
  }

  /** A uniform integer in [lo, hi); returns `lo` when the range is empty. */
  nextRange(lo: i32, hi: i32): i32 {
    if (hi <= lo) return lo;
    return lo + <i32>this.nextBelow(<u32>(hi - lo));
  }

  /** A uniform f32 in [lo, hi] (the upper end is reachable only through rounding). */
  // @ts-ignore: decorator
  @inline nextFloatRange(lo: f32, hi: f32): f32 {
    return lo + this.nextFloat() * (hi - lo);
  }

  /** Writes the 16-byte state at `ptr` (four little-endian u32 words: s0, s1, s2, s3). */
  save(ptr: usize): void {
    store<u32>(ptr, this.s0);
    store<u32>(ptr, this.s1, 4);
    store<u32>(ptr, this.s2, 8);
    store<u32>(ptr, this.s3, 12);
  }

  /**
   * Reads a 16-byte state written by `save`. Returns false, and leaves the generator unchanged,
   * when the bytes are all zero, which no seeded generator can reach: decode that as a
   * MALFORMED_STATE.
   */
  load(ptr: usize): bool {
    const s0 = load<u32>(ptr);
    const s1 = load<u32>(ptr, 4);
    const s2 = load<u32>(ptr, 8);
    const s3 = load<u32>(ptr, 12);
    if ((s0 | s1 | s2 | s3) == 0) return false;
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
    return true;
  }
}
