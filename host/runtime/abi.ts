/**
 * Constants of the cartridge ABI, version 1. `docs/abi.md` is the normative description; this file
 * mirrors it for the host so that no other module spells an export name or an offset itself.
 */

/** The only ABI version this host speaks. */
export const ABI_VERSION = 1;

/** Names of the functions every cartridge exports. */
export const REQUIRED_EXPORTS = [
  "cartridge_abi_version",
  "cartridge_manifest_ptr",
  "cartridge_manifest_len",
  "cartridge_exchange_ptr",
  "cartridge_exchange_len",
  "cartridge_reset",
  "cartridge_step",
  "cartridge_step_batch",
  "cartridge_rollout",
] as const;

/** Required for discrete and multi-discrete action spaces, optional for box spaces. */
export const LEGAL_ACTIONS_EXPORT = "cartridge_legal_actions";

/** The one import a cartridge may declare (AssemblyScript's abort). */
export const ALLOWED_IMPORT = { module: "env", name: "abort" } as const;

/** Status codes returned by the entry points (negated by `cartridge_rollout`). */
export const Status = {
  Ok: 0,
  IllegalAction: 1,
  MalformedState: 2,
  MalformedAction: 3,
  EpisodeOver: 4,
  MalformedHint: 5,
  BadArgument: 6,
  Internal: 7,
} as const;
export type StatusCode = (typeof Status)[keyof typeof Status];

/** Byte offsets inside one info record; `infoBytes(players)` gives its size. */
export const InfoOffset = {
  reward: 0,
  terminated: 4,
  truncated: 5,
  currentPlayer: 6,
  status: 7,
  playerRewards: 8,
} as const;

/** Size in bytes of an info record for a game with `players` players. */
export function infoBytes(players: number): number {
  return 8 + 4 * players;
}

/** Bit 0 of the rollout flags: also write observations. */
export const ROLLOUT_FLAG_OBS = 1;

/** Largest exchange region the ABI allows, in bytes. */
export const EXCHANGE_MAX_BYTES = 16 * 1024 * 1024;

const CONSTANT_SIGNATURE = "() -> i32";

/** The wasm signature of every entry point, as the loader prints and checks it. */
export const EXPORT_SIGNATURES: Readonly<Record<string, string>> = {
  cartridge_abi_version: CONSTANT_SIGNATURE,
  cartridge_manifest_ptr: CONSTANT_SIGNATURE,
  cartridge_manifest_len: CONSTANT_SIGNATURE,
  cartridge_exchange_ptr: CONSTANT_SIGNATURE,
  cartridge_exchange_len: CONSTANT_SIGNATURE,
  cartridge_reset: "(i64, i32, i32, i32, i32, i32) -> i32",
  cartridge_step: "(i32, i32, i32, i32, i32) -> i32",
  cartridge_step_batch: "(i32, i32, i32, i32, i32, i32) -> i32",
  cartridge_rollout: "(i64, i32, i32, i32, i32, i32, i32) -> i32",
  [LEGAL_ACTIONS_EXPORT]: "(i32, i32) -> i32",
};
