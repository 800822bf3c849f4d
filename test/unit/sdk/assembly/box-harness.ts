// Exposes the SDK's box-space rollout policy to test/unit/sdk/box-policy.test.ts.

import { writeUniformBox } from "../../../../sdk/assembly/policy";
import { Rng } from "../../../../sdk/assembly/rng";

const rng = new Rng();
const OUT: usize = memory.data(16, 16);
const LOW = new StaticArray<f32>(1);
const HIGH = new StaticArray<f32>(1);

export function seed(value: u64): void {
  rng.seed(value, 1);
}

/** One policy value for the one-element box [lo, hi]. */
export function draw(lo: f32, hi: f32): f32 {
  LOW[0] = lo;
  HIGH[0] = hi;
  writeUniformBox(rng, LOW, HIGH, OUT);
  return load<f32>(OUT);
}
