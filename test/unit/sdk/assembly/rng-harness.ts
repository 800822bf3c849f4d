// Exposes the SDK's generator and rollout policy to the unit tests (test/unit/sdk/rng.test.ts).

import { pickLegal, pickLegalBits, pickLegalPadded } from "../../../../sdk/assembly/policy";
import { Rng } from "../../../../sdk/assembly/rng";

const rng = new Rng();
const BUFFER: usize = memory.data(4096, 16);

export function bufferPtr(): usize {
  return BUFFER;
}

export function seed(value: u64, stream: u32): void {
  rng.seed(value, stream);
}

export function nextU32(): u32 {
  return rng.nextU32();
}

export function nextFloat(): f32 {
  return rng.nextFloat();
}

export function nextBelow(n: u32): u32 {
  return rng.nextBelow(n);
}

export function nextRange(lo: i32, hi: i32): i32 {
  return rng.nextRange(lo, hi);
}

export function save(ptr: usize): void {
  rng.save(ptr);
}

export function load(ptr: usize): bool {
  return rng.load(ptr);
}

export function pick(mask: usize, length: i32): i32 {
  return pickLegal(rng, mask, length);
}

export function pickPadded(mask: usize, length: i32): i32 {
  return pickLegalPadded(rng, mask, length);
}

export function pickBits(bits: u64, width: i32): i32 {
  return pickLegalBits(rng, bits, width);
}
