import { Status, type StatusCode } from "../../host/runtime/abi.js";

/**
 * A plain TypeScript tic-tac-toe, written independently of the cartridge (cell arrays, no
 * bitboards), used as the oracle in the exhaustive tests. The byte layouts are those of
 * cartridges/tictactoe/README.md: state `packed_u8:v1` (9 cells 0/1/2, player, winner), action
 * `discrete:v1` (u32 cell), observation `f32x27:v1` (X one-hot, O one-hot, legal mask).
 */

export const STATE_BYTES = 11;
export const OBS_FLOATS = 27;
const CELLS = 9;
const LINES: readonly (readonly [number, number, number])[] = [
  [0, 1, 2],
  [3, 4, 5],
  [6, 7, 8],
  [0, 3, 6],
  [1, 4, 7],
  [2, 5, 8],
  [0, 4, 8],
  [2, 4, 6],
];

/** A position: `cells[i]` is 0 empty, 1 X, 2 O; `player` 0 = X to move; `winner` 0/1/2/3. */
export interface Position {
  readonly cells: readonly number[];
  readonly player: number;
  readonly winner: number;
}

/** The outcome of one step in the reference. */
export interface ReferenceStep {
  readonly status: StatusCode;
  /** Present only when `status` is OK. */
  readonly next?: {
    readonly state: Uint8Array;
    readonly obs: Float32Array;
    readonly reward: number;
    readonly playerRewards: readonly [number, number];
    readonly terminated: boolean;
    readonly truncated: boolean;
    readonly currentPlayer: number;
  };
}

export const INITIAL: Position = { cells: new Array<number>(CELLS).fill(0), player: 0, winner: 0 };

export function encodeState(position: Position): Uint8Array {
  return Uint8Array.from([...position.cells, position.player, position.winner]);
}

function toPosition(bytes: Uint8Array): Position {
  return {
    cells: Array.from(bytes.subarray(0, CELLS)),
    player: bytes[9] ?? 0,
    winner: bytes[10] ?? 0,
  };
}

function lineOf(cells: readonly number[], mark: number): boolean {
  return LINES.some(([a, b, c]) => cells[a] === mark && cells[b] === mark && cells[c] === mark);
}

export function isOver(position: Position): boolean {
  return position.winner !== 0;
}

export function legalMask(position: Position): Uint8Array {
  return Uint8Array.from(position.cells, (cell) => (cell === 0 && !isOver(position) ? 1 : 0));
}

export function observation(position: Position): Float32Array {
  const obs = new Float32Array(OBS_FLOATS);
  const mask = legalMask(position);
  position.cells.forEach((cell, i) => {
    obs[i] = cell === 1 ? 1 : 0;
    obs[9 + i] = cell === 2 ? 1 : 0;
    obs[18 + i] = mask[i] ?? 0;
  });
  return obs;
}

/** Plays `cell` for the player to move; the caller has checked that the move is legal. */
export function play(position: Position, cell: number): Position {
  const mark = position.player + 1;
  const cells = position.cells.slice();
  cells[cell] = mark;
  let winner = 0;
  if (lineOf(cells, mark)) winner = mark;
  else if (cells.every((c) => c !== 0)) winner = 3;
  return { cells, player: 1 - position.player, winner };
}

/** Every position reachable from the empty board by legal play, as state-bytes keys. */
export function reachablePositions(): Map<string, Position> {
  const seen = new Map<string, Position>();
  const queue: Position[] = [INITIAL];
  seen.set(encodeState(INITIAL).join(","), INITIAL);
  while (queue.length > 0) {
    const position = queue.pop()!;
    if (isOver(position)) continue;
    position.cells.forEach((cell, i) => {
      if (cell !== 0) return;
      const next = play(position, i);
      const key = encodeState(next).join(",");
      if (!seen.has(key)) {
        seen.set(key, next);
        queue.push(next);
      }
    });
  }
  return seen;
}

let reachableCache: Map<string, Position> | undefined;

/** Decodes state bytes, or undefined when they are not a reachable position. */
export function decodeState(bytes: Uint8Array): Position | undefined {
  if (bytes.byteLength !== STATE_BYTES) return undefined;
  reachableCache ??= reachablePositions();
  return reachableCache.has(bytes.join(",")) ? toPosition(bytes) : undefined;
}

/**
 * One transition with the cartridge's checking order: malformed state, then finished game, then
 * malformed action, then an occupied cell.
 */
export function step(stateBytes: Uint8Array, action: number): ReferenceStep {
  const position = decodeState(stateBytes);
  if (position === undefined) return { status: Status.MalformedState };
  if (isOver(position)) return { status: Status.EpisodeOver };
  if (!Number.isInteger(action) || action < 0 || action >= CELLS) {
    return { status: Status.MalformedAction };
  }
  if (position.cells[action] !== 0) return { status: Status.IllegalAction };
  const next = play(position, action);
  const mover = position.player;
  let playerRewards: [number, number] = [0, 0];
  if (next.winner === 1) playerRewards = [1, -1];
  else if (next.winner === 2) playerRewards = [-1, 1];
  const over = isOver(next);
  return {
    status: Status.Ok,
    next: {
      state: encodeState(next),
      obs: observation(next),
      reward: playerRewards[mover] ?? 0,
      playerRewards,
      terminated: over,
      truncated: false,
      currentPlayer: over ? -1 : next.player,
    },
  };
}
