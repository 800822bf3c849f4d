import { InfoOffset } from "./abi.js";

/** One decoded info record (docs/abi.md, section 2). */
export interface InfoRecord {
  readonly reward: number;
  readonly terminated: boolean;
  readonly truncated: boolean;
  readonly currentPlayer: number;
  readonly status: number;
  readonly playerRewards: Float32Array;
}

/** Decodes the info record at `offset` of `memory` for a game with `players` players. */
export function readInfo(memory: Uint8Array, offset: number, players: number): InfoRecord {
  const view = new DataView(memory.buffer, memory.byteOffset + offset);
  const playerRewards = new Float32Array(players);
  for (let p = 0; p < players; p++) {
    playerRewards[p] = view.getFloat32(InfoOffset.playerRewards + 4 * p, true);
  }
  return {
    reward: view.getFloat32(InfoOffset.reward, true),
    terminated: view.getUint8(InfoOffset.terminated) !== 0,
    truncated: view.getUint8(InfoOffset.truncated) !== 0,
    currentPlayer: view.getInt8(InfoOffset.currentPlayer),
    status: view.getUint8(InfoOffset.status),
    playerRewards,
  };
}

/** Columns decoded from `count` packed info records. */
export interface InfoColumns {
  readonly rewards: Float32Array;
  readonly terminated: Uint8Array;
  readonly truncated: Uint8Array;
  /** Bit 0 terminated, bit 1 truncated. */
  readonly flags: Uint8Array;
  readonly currentPlayers: Int8Array;
  readonly playerRewards: Float32Array;
  readonly statuses: Uint8Array;
}

/**
 * Decodes `count` info records packed from `offset` in `memory` into `columns`, starting at row
 * `row`. Writing into existing columns lets hot paths reuse them instead of allocating.
 */
export function writeInfoColumns(
  memory: Uint8Array,
  offset: number,
  count: number,
  players: number,
  columns: InfoColumns,
  row: number,
): void {
  const stride = 8 + 4 * players;
  const view = new DataView(memory.buffer, memory.byteOffset + offset, count * stride);
  for (let i = 0; i < count; i++) {
    const at = i * stride;
    const out = row + i;
    const terminated = view.getUint8(at + InfoOffset.terminated) !== 0 ? 1 : 0;
    const truncated = view.getUint8(at + InfoOffset.truncated) !== 0 ? 1 : 0;
    columns.rewards[out] = view.getFloat32(at + InfoOffset.reward, true);
    columns.terminated[out] = terminated;
    columns.truncated[out] = truncated;
    columns.flags[out] = terminated | (truncated << 1);
    columns.currentPlayers[out] = view.getInt8(at + InfoOffset.currentPlayer);
    columns.statuses[out] = view.getUint8(at + InfoOffset.status);
    for (let p = 0; p < players; p++) {
      columns.playerRewards[out * players + p] = view.getFloat32(
        at + InfoOffset.playerRewards + 4 * p,
        true,
      );
    }
  }
}

/** Decodes `count` info records packed from `offset` into new columns. */
export function readInfoColumns(
  memory: Uint8Array,
  offset: number,
  count: number,
  players: number,
): InfoColumns {
  const columns: InfoColumns = {
    rewards: new Float32Array(count),
    terminated: new Uint8Array(count),
    truncated: new Uint8Array(count),
    flags: new Uint8Array(count),
    currentPlayers: new Int8Array(count),
    playerRewards: new Float32Array(count * players),
    statuses: new Uint8Array(count),
  };
  writeInfoColumns(memory, offset, count, players, columns, 0);
  return columns;
}
