import { beforeAll, describe, expect, it } from "vitest";
import { compileHarness } from "./harness.js";

interface BoxHarness {
  seed(value: bigint): void;
  draw(lo: number, hi: number): number;
}

/** The largest finite f32. */
const F32_MAX = 3.4028234663852886e38;

let box: BoxHarness;

beforeAll(async () => {
  box = (await compileHarness("box-harness.ts")) as unknown as BoxHarness;
});

function draws(lo: number, hi: number, count: number): number[] {
  box.seed(42n);
  return Array.from({ length: count }, () => box.draw(lo, hi));
}

describe("SDK box rollout policy", () => {
  it("draws finite values spread over a box whose width overflows f32", () => {
    const values = draws(-F32_MAX, F32_MAX, 400);
    for (const value of values) {
      expect(Number.isFinite(value)).toBe(true);
      expect(value).toBeGreaterThanOrEqual(-F32_MAX);
      expect(value).toBeLessThanOrEqual(F32_MAX);
    }
    // Uniform over the box: about half below zero, and not stuck at an end.
    const negative = values.filter((v) => v < 0).length;
    expect(negative).toBeGreaterThan(150);
    expect(negative).toBeLessThan(250);
    expect(values.filter((v) => v === F32_MAX).length).toBeLessThan(5);
  });

  it("stays inside ordinary boxes and returns the point of a zero-width box", () => {
    for (const value of draws(-2, 2, 200)) {
      expect(value).toBeGreaterThanOrEqual(-2);
      expect(value).toBeLessThanOrEqual(2);
    }
    expect(draws(1.5, 1.5, 3)).toEqual([1.5, 1.5, 1.5]);
  });
});
