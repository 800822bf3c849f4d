import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import type { Rng } from "../../host/consensus/core/rng.js";

/** The simulator's seeded randomness: every choice it makes comes from here. */
export class SimRandom implements Rng {
  private readonly generator;

  constructor(seed: number) {
    this.generator = xoroshiro128plus(seed);
  }

  /** An integer in `[0, bound)`. */
  nextInt(bound: number): number {
    return (this.generator.next() >>> 0) % bound;
  }

  /** An integer in `[min, max]`. */
  between(min: number, max: number): number {
    return min + this.nextInt(max - min + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.nextInt(1_000_000) < p * 1_000_000;
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    const item = items[this.nextInt(items.length)];
    if (item === undefined) {
      throw new Error("pick from an empty array");
    }
    return item;
  }

  /** Shuffles `items` in place (Fisher-Yates). */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i -= 1) {
      const j = this.nextInt(i + 1);
      const a = items[i] as T;
      items[i] = items[j] as T;
      items[j] = a;
    }
    return items;
  }

  /** A seed for an independent stream (a replica's own RNG). */
  fork(): number {
    return this.nextInt(2 ** 31);
  }
}

const MASK_64 = (1n << 64n) - 1n;

/**
 * SplitMix64 (Steele, Lea and Flood): one step of a 64-bit generator whose output is a
 * well-mixed function of its input, so neighbouring seeds give unrelated outputs.
 */
export function splitMix64(state: bigint): bigint {
  let z = (state + 0x9e3779b97f4a7c15n) & MASK_64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK_64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK_64;
  return z ^ (z >> 31n);
}

/**
 * A 31-bit seed for the stream `stream` of run `seed`, drawn from well-mixed bits.
 * xoroshiro's first outputs move by one when its seed does, so the simulator never seeds a
 * generator with a raw run number: every per-run choice comes from a mixed seed instead.
 */
export function mixSeed(seed: number, stream: number): number {
  const mixed = splitMix64((BigInt(seed) << 16n) ^ BigInt(stream));
  return Number(mixed >> 33n);
}
