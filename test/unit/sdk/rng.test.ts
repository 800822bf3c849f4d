import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { compileHarness } from "./harness.js";
import { splitMix, Xoshiro128 } from "./xoshiro-reference.js";

interface RngHarness {
  memory: WebAssembly.Memory;
  bufferPtr(): number;
  seed(value: bigint, stream: number): void;
  nextU32(): number;
  nextFloat(): number;
  nextBelow(n: number): number;
  nextRange(lo: number, hi: number): number;
  save(ptr: number): void;
  load(ptr: number): number;
  pick(mask: number, length: number): number;
  pickPadded(mask: number, length: number): number;
  pickBits(bits: bigint, width: number): number;
}

const MASK64 = (1n << 64n) - 1n;

function referenceSequence(seed: bigint, stream: number, count: number): number[] {
  const reference = Xoshiro128.seeded(seed, stream);
  return Array.from({ length: count }, () => reference.nextU32());
}

let rng: RngHarness;

beforeAll(async () => {
  rng = (await compileHarness("rng-harness.ts")) as unknown as RngHarness;
});

function draw(seed: bigint, stream: number, count: number): number[] {
  rng.seed(seed, stream);
  return Array.from({ length: count }, () => rng.nextU32() >>> 0);
}

describe("SDK generator (xoshiro128** seeded by SplitMix64)", () => {
  it("matches SplitMix64's published first output for seed 0", () => {
    expect(splitMix(0n, 1n)).toBe(0xe220a8397b1dcdafn);
  });

  it("produces the reference xoshiro128** sequence for any seed and stream", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: MASK64 }),
        fc.integer({ min: 0, max: 3 }),
        (seed, stream) => {
          expect(draw(seed, stream, 16)).toEqual(referenceSequence(seed, stream, 16));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("gives the same sequence for the same seed and different ones for the game and policy streams", () => {
    expect(draw(42n, 0, 32)).toEqual(draw(42n, 0, 32));
    expect(draw(42n, 0, 32)).not.toEqual(draw(42n, 1, 32));
    expect(draw(42n, 0, 32)).not.toEqual(draw(43n, 0, 32));
  });

  it("continues identically after save and load", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: MASK64 }),
        fc.integer({ min: 0, max: 50 }),
        (seed, skip) => {
          rng.seed(seed, 0);
          for (let i = 0; i < skip; i++) rng.nextU32();
          const ptr = rng.bufferPtr();
          rng.save(ptr);
          const expected = Array.from({ length: 8 }, () => rng.nextU32() >>> 0);
          rng.seed(seed ^ 1n, 0);
          expect(rng.load(ptr)).toBe(1);
          expect(Array.from({ length: 8 }, () => rng.nextU32() >>> 0)).toEqual(expected);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("refuses an all-zero saved state", () => {
    const ptr = rng.bufferPtr();
    new Uint8Array(rng.memory.buffer, ptr, 16).fill(0);
    expect(rng.load(ptr)).toBe(0);
  });

  it("keeps nextFloat in [0, 1) and nextRange in [lo, hi)", () => {
    rng.seed(7n, 0);
    for (let i = 0; i < 10_000; i++) {
      const f = rng.nextFloat();
      expect(f >= 0 && f < 1).toBe(true);
      const r = rng.nextRange(-3, 4);
      expect(r >= -3 && r < 4).toBe(true);
    }
    expect(rng.nextRange(5, 5)).toBe(5);
  });

  it("spreads nextBelow evenly (chi-square, fixed seed)", () => {
    rng.seed(12345n, 0);
    const buckets = 10;
    const draws = 100_000;
    const counts = new Array<number>(buckets).fill(0);
    for (let i = 0; i < draws; i++) {
      const value = rng.nextBelow(buckets);
      counts[value] = (counts[value] ?? 0) + 1;
    }
    const expected = draws / buckets;
    const chiSquare = counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
    // 9 degrees of freedom: the 99.9th percentile is 27.88.
    expect(chiSquare).toBeLessThan(27.88);
  });

  it("is unbiased for a bound that does not divide 2^32 (chi-square on 3 buckets)", () => {
    rng.seed(99n, 0);
    const counts = [0, 0, 0];
    for (let i = 0; i < 90_000; i++) counts[rng.nextBelow(3)]! += 1;
    const chiSquare = counts.reduce((sum, c) => sum + (c - 30_000) ** 2 / 30_000, 0);
    // 2 degrees of freedom: the 99.9th percentile is 13.82.
    expect(chiSquare).toBeLessThan(13.82);
  });

  it("picks only legal mask entries, and each about equally often", () => {
    const ptr = rng.bufferPtr();
    const mask = new Uint8Array(rng.memory.buffer, ptr, 9);
    mask.set([0, 1, 0, 1, 1, 0, 0, 0, 1]);
    rng.seed(2024n, 1);
    const counts = new Map<number, number>();
    for (let i = 0; i < 40_000; i++) {
      const chosen = rng.pick(ptr, 9);
      counts.set(chosen, (counts.get(chosen) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual([1, 3, 4, 8]);
    const chiSquare = [...counts.values()].reduce((sum, c) => sum + (c - 10_000) ** 2 / 10_000, 0);
    expect(chiSquare).toBeLessThan(16.27); // 3 degrees of freedom, 99.9th percentile
    mask.fill(0);
    expect(rng.pick(ptr, 9)).toBe(-1);
  });

  it("treats any non-zero mask byte as legal, across 8-byte chunks and the tail", () => {
    const ptr = rng.bufferPtr();
    const mask = new Uint8Array(rng.memory.buffer, ptr, 21);
    mask.fill(0);
    const legal = [0, 7, 8, 13, 16, 20];
    [1, 0x80, 2, 0xff, 0x10, 3].forEach((value, i) => {
      mask[legal[i]!] = value;
    });
    rng.seed(31n, 1);
    const counts = new Map<number, number>();
    for (let i = 0; i < 60_000; i++) {
      const chosen = rng.pick(ptr, 21);
      counts.set(chosen, (counts.get(chosen) ?? 0) + 1);
    }
    expect([...counts.keys()].sort((a, b) => a - b)).toEqual(legal);
    const chiSquare = [...counts.values()].reduce((sum, c) => sum + (c - 10_000) ** 2 / 10_000, 0);
    expect(chiSquare).toBeLessThan(20.52); // 5 degrees of freedom, 99.9th percentile
  });

  it("picks as pickLegal does with the padded fast path, ignoring the bytes after the mask", () => {
    const ptr = rng.bufferPtr();
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 80 }),
        fc.uint8Array({ minLength: 8, maxLength: 8 }),
        fc.bigInt({ min: 0n, max: MASK64 }),
        (mask, padding, seed) => {
          const bytes = new Uint8Array(rng.memory.buffer, ptr, mask.length + 8);
          // Sparse masks too: most bytes zero, some non-zero with any value.
          bytes.set(mask.map((b) => (b % 3 === 0 ? b : 0)));
          bytes.set(padding, mask.length);
          const picks = (pick: (mask: number, length: number) => number) => {
            rng.seed(seed, 1);
            return Array.from({ length: 4 }, () => pick(ptr, mask.length));
          };
          expect(picks(rng.pickPadded)).toEqual(picks(rng.pick));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("picks from a game's legal bits as pickLegal does from the same set as bytes", () => {
    const ptr = rng.bufferPtr();
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.bigInt({ min: 0n, max: MASK64 }),
        fc.bigInt({ min: 0n, max: MASK64 }),
        (width, raw, seed) => {
          // Sparse and dense sets alike: the bits below `width`, thinned by a second word.
          const bits = raw & (raw >> 7n) & ((1n << BigInt(width)) - 1n);
          const bytes = new Uint8Array(rng.memory.buffer, ptr, width);
          for (let i = 0; i < width; i++) bytes[i] = Number((bits >> BigInt(i)) & 1n);
          const picks = (pick: () => number) => {
            rng.seed(seed, 1);
            return Array.from({ length: 4 }, pick);
          };
          expect(picks(() => rng.pickBits(bits, width))).toEqual(picks(() => rng.pick(ptr, width)));
        },
      ),
      { numRuns: 500 },
    );
  });
});
