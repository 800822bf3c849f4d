// The ceiling for the runtime benchmark: the same random self-play tic-tac-toe rollout as a
// cartridge's `cartridge_rollout` (xoshiro128** policy over the legal cells, action, 11 state
// bytes, the 27-float observation and a 16-byte info record with both players' rewards written per
// step), hand-written as one function with no SDK, no validation and no fuel metering. It is what
// WebAssembly allows for this work, so the benchmark can say how close the SDK comes to it.

let s0: u32 = 1;
let s1: u32 = 0;
let s2: u32 = 0;
let s3: u32 = 0;

// @ts-ignore: decorator
@inline function next(): u32 {
  const a = s0;
  const b = s1;
  const c = s2 ^ a;
  const d = s3 ^ b;
  const result = rotl<u32>(b * 5, 7) * 9;
  s0 = a ^ d;
  s1 = b ^ c;
  s2 = c ^ (b << 9);
  s3 = rotl<u32>(d, 11);
  return result;
}

// @ts-ignore: decorator
@inline function hasLine(m: u32): bool {
  return (
    (m & 0x007) == 0x007 ||
    (m & 0x038) == 0x038 ||
    (m & 0x1c0) == 0x1c0 ||
    (m & 0x049) == 0x049 ||
    (m & 0x092) == 0x092 ||
    (m & 0x124) == 0x124 ||
    (m & 0x111) == 0x111 ||
    (m & 0x054) == 0x054
  );
}

/** Plays one episode from `seed` into the four arrays; returns the number of steps. */
export function rollout(seed: u32, actions: usize, states: usize, obs: usize, infos: usize): i32 {
  s0 = seed | 1;
  s1 = 0x9e3779b9;
  s2 = seed * 0x85ebca6b;
  s3 = 0xc2b2ae35;
  let x: u32 = 0;
  let o: u32 = 0;
  let player: u32 = 0;
  let t = 0;
  let over = false;
  while (!over) {
    let free = ~(x | o) & 0x1ff;
    const k = <u32>((<u64>next() * <u64>popcnt<u32>(free)) >> 32);
    for (let j: u32 = 0; j < k; j++) free &= free - 1;
    const cell = ctz<u32>(free);
    store<u32>(actions + (<usize>t << 2), cell);
    const bit: u32 = 1 << cell;
    let marks: u32;
    if (player == 0) {
      x |= bit;
      marks = x;
    } else {
      o |= bit;
      marks = o;
    }
    let reward0: f32 = 0;
    let reward1: f32 = 0;
    let winner: u8 = 0;
    if (hasLine(marks)) {
      over = true;
      winner = <u8>(player + 1);
      reward0 = player == 0 ? 1 : -1;
      reward1 = -reward0;
    } else if ((x | o) == 0x1ff) {
      over = true;
      winner = 3;
    }
    player ^= 1;
    const state = states + <usize>(t * 11);
    for (let i: u32 = 0; i < 9; i++) {
      store<u8>(state + i, <u8>(((x >> i) & 1) | (((o >> i) & 1) << 1)));
    }
    store<u8>(state, <u8>player, 9);
    store<u8>(state, winner, 10);
    const at = obs + <usize>(t * 108);
    const legal = over ? 0 : ~(x | o);
    for (let i: u32 = 0; i < 9; i++) {
      const cellAt = at + (i << 2);
      store<f32>(cellAt, <f32>((x >> i) & 1));
      store<f32>(cellAt, <f32>((o >> i) & 1), 36);
      store<f32>(cellAt, <f32>((legal >> i) & 1), 72);
    }
    const info = infos + (<usize>t << 4);
    store<f32>(info, winner == 1 || winner == 2 ? 1 : 0);
    store<u8>(info, over, 4);
    store<u8>(info, 0, 5);
    store<i8>(info, over ? -1 : <i8>player, 6);
    store<u8>(info, 0, 7);
    store<f32>(info, reward0, 8);
    store<f32>(info, reward1, 12);
    t++;
  }
  return t;
}
