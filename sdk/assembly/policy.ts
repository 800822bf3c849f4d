// The rollout policy of docs/abi.md section 4: uniform over the legal actions (discrete and
// multi-discrete, each dimension independently) or uniform in [low, high] (box). It writes action
// bytes, so the game decodes policy actions exactly as it decodes the host's.

import { Rng } from "./rng";

/**
 * Picks a uniformly random index among the `length` mask bytes at `mask` that are 1. Returns -1
 * when none is legal.
 */
export function pickLegal(rng: Rng, mask: usize, length: i32): i32 {
  let legal: u32 = 0;
  for (let i = 0; i < length; i++) legal += <u32>(load<u8>(mask + <usize>i) != 0);
  if (legal == 0) return -1;
  let chosen = rng.nextBelow(legal);
  for (let i = 0; i < length; i++) {
    if (load<u8>(mask + <usize>i) != 0) {
      if (chosen == 0) return i;
      chosen--;
    }
  }
  return -1;
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
    let value = lo + rng.nextFloat() * (hi - lo);
    // Rounding can push lo + f * (hi - lo) a hair past hi; the box is closed, so clamp.
    if (value > hi) value = hi;
    store<f32>(out + (<usize>i << 2), value);
  }
}
