/**
 * SplitMix64 and xoshiro128** in plain TypeScript, written from the published algorithms and
 * seeded the way the SDK documents (docs/abi.md section 6, sdk/assembly/rng.ts): the oracle for
 * the generator tests and for games that keep a generator in their state.
 */

const MASK64 = (1n << 64n) - 1n;
const GAMMA = 0x9e3779b97f4a7c15n;

/** SplitMix64 output number `index` (1-based) of the stream that starts at `seed`. */
export function splitMix(seed: bigint, index: bigint): bigint {
  let z = (seed + GAMMA * index) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A xoshiro128** generator whose four words can be read and written. */
export class Xoshiro128 {
  readonly s: Uint32Array;

  constructor(words: ArrayLike<number>) {
    this.s = Uint32Array.from(words);
  }

  /** Seeded like `Rng.seed(seed, stream)` in the SDK. */
  static seeded(seed: bigint, stream = 0): Xoshiro128 {
    const a = splitMix(seed, BigInt(2 * stream + 1));
    const b = splitMix(seed, BigInt(2 * stream + 2));
    const lo = (x: bigint) => Number(x & 0xffffffffn);
    return new Xoshiro128([lo(a), Number(a >> 32n), lo(b), Number(b >> 32n)]);
  }

  nextU32(): number {
    const s = this.s;
    const s1 = s[1]!;
    const result = Math.imul(rotl(Math.imul(s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Like `Rng.nextFloat`: the top 24 bits scaled by 2^-24, an exact f32. */
  nextFloat(): number {
    return (this.nextU32() >>> 8) / 16777216;
  }

  /** The 16 bytes `Rng.save` writes. */
  bytes(): Uint8Array {
    return new Uint8Array(this.s.slice().buffer);
  }
}
