import type { BatchTransition, BuildRef } from "./engine.js";
import { readInfo } from "./info-record.js";
import type { CartridgeInstance } from "./instance.js";

/**
 * Row-wise helpers of the vector path that the ABI has no batched export for: legal masks of many
 * states, the resets of an autoreset step and a vector reset. Each runs on one instance the
 * caller holds, one single-env call per row, and copies its outputs out before the next call.
 */

const SEED_LIMIT = 1n << 64n;
const NO_HINT = new Uint8Array(0);

/** Seed of env `index` of a vector reset or autoreset: `base + index` (mod 2^64), as EnvPool. */
export function rowSeed(base: bigint, index: number): bigint {
  return (base + BigInt(index)) % SEED_LIMIT;
}

/**
 * The legal masks of `count` states packed at `address`, one mask after the other. A row whose
 * step failed (`statuses[i] != 0`) keeps an all-zero mask: its state is the request's, which may
 * be malformed, and its status already says what went wrong.
 */
export function legalMasksAt(
  instance: CartridgeInstance,
  address: number,
  statuses: Uint8Array,
): Uint8Array {
  const { stateBytes, legalMaskBytes } = instance.cartridge.sizes;
  const count = statuses.length;
  const masks = new Uint8Array(count * legalMaskBytes);
  if (legalMaskBytes === 0) return masks;
  for (let i = 0; i < count; i++) {
    if (statuses[i] !== 0) continue;
    masks.set(instance.legalActions(address + i * stateBytes), i * legalMaskBytes);
  }
  return masks;
}

/** The columns of a vector step that an autoreset rewrites; the arrays are the caller's. */
export interface AutoresetColumns {
  readonly states: Uint8Array;
  readonly obs: Uint8Array;
  readonly currentPlayers: Int8Array;
  readonly legalMasks: Uint8Array;
  readonly terminated: Uint8Array;
  readonly truncated: Uint8Array;
  readonly statuses: Uint8Array;
}

/**
 * Same-step autoreset: every row whose step succeeded and ended its episode is reset with seed
 * `rowSeed(seed, firstIndex + row)`; its state, observation, current player and mask are replaced
 * by the new episode's (in `columns`), and its last state and observation are returned, packed in
 * row order. Rewards and flags stay those of the step that ended the episode.
 */
export function autoresetRows(
  instance: CartridgeInstance,
  columns: AutoresetColumns,
  seed: bigint,
  firstIndex: number,
): { finalObs: Uint8Array; finalStates: Uint8Array } {
  const { sizes, manifest } = instance.cartridge;
  const { stateBytes, obsBytes, legalMaskBytes } = sizes;
  const count = columns.statuses.length;
  const ended: number[] = [];
  for (let i = 0; i < count; i++) {
    const over = columns.terminated[i] !== 0 || columns.truncated[i] !== 0;
    if (columns.statuses[i] === 0 && over) ended.push(i);
  }
  const finalStates = new Uint8Array(ended.length * stateBytes);
  const finalObs = new Uint8Array(ended.length * obsBytes);
  const l = instance.single;
  ended.forEach((row, k) => {
    finalStates.set(
      columns.states.subarray(row * stateBytes, (row + 1) * stateBytes),
      k * stateBytes,
    );
    finalObs.set(columns.obs.subarray(row * obsBytes, (row + 1) * obsBytes), k * obsBytes);
    instance.reset(rowSeed(seed, firstIndex + row), NO_HINT);
    const memory = instance.memory;
    columns.states.set(memory.subarray(l.stateOut, l.stateOut + stateBytes), row * stateBytes);
    columns.obs.set(memory.subarray(l.obs, l.obs + obsBytes), row * obsBytes);
    columns.currentPlayers[row] = readInfo(memory, l.info, manifest.players).currentPlayer;
    if (legalMaskBytes > 0) {
      columns.legalMasks.set(instance.legalActions(l.stateOut), row * legalMaskBytes);
    }
  });
  return { finalObs, finalStates };
}

/**
 * Resets `count` envs, env `firstIndex + i` seeded `rowSeed(seed, firstIndex + i)` with
 * `hintOf(firstIndex + i)`, into packed columns (rewards, flags and statuses are zero).
 */
export function resetRows(
  instance: CartridgeInstance,
  build: BuildRef,
  seed: bigint,
  firstIndex: number,
  count: number,
  hintOf: (index: number) => Uint8Array,
): BatchTransition {
  const { sizes, manifest } = instance.cartridge;
  const { stateBytes, obsBytes, legalMaskBytes } = sizes;
  const players = manifest.players;
  const states = new Uint8Array(count * stateBytes);
  const obs = new Uint8Array(count * obsBytes);
  const currentPlayers = new Int8Array(count);
  const legalMasks = new Uint8Array(count * legalMaskBytes);
  const l = instance.single;
  for (let i = 0; i < count; i++) {
    instance.reset(rowSeed(seed, firstIndex + i), hintOf(firstIndex + i));
    const memory = instance.memory;
    states.set(memory.subarray(l.stateOut, l.stateOut + stateBytes), i * stateBytes);
    obs.set(memory.subarray(l.obs, l.obs + obsBytes), i * obsBytes);
    currentPlayers[i] = readInfo(memory, l.info, players).currentPlayer;
    if (legalMaskBytes > 0) legalMasks.set(instance.legalActions(l.stateOut), i * legalMaskBytes);
  }
  return {
    build,
    count,
    states,
    obs,
    rewards: new Float32Array(count),
    terminated: new Uint8Array(count),
    truncated: new Uint8Array(count),
    currentPlayers,
    playerRewards: new Float32Array(count * players),
    statuses: new Uint8Array(count),
    legalMasks,
  };
}
