import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import type { Rng } from "../core/rng.js";

/** A seeded {@link Rng} (xoroshiro128+); the same seed always gives the same sequence. */
export function seededRng(seed: number): Rng {
  const generator = xoroshiro128plus(seed);
  return {
    nextInt(bound: number): number {
      // Unsigned 32-bit draw reduced by modulo; the bias is negligible for the small bounds used.
      return (generator.next() >>> 0) % bound;
    },
  };
}
