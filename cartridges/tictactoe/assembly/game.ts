// Tic-tac-toe for the Cartridge SDK. The board lives in two 9-bit masks (one per player) so that
// win detection is eight mask tests; the byte encodings are in ../README.md.

import {
  ByteView,
  ILLEGAL_ACTION,
  MALFORMED_ACTION,
  MALFORMED_STATE,
  OK,
  Outcome,
  Rng,
} from "../../../sdk/assembly/index";

/** Number of cells, and of discrete actions. */
const CELLS: i32 = 9;
/** A full board: all nine bits set. */
const FULL: u32 = 0x1ff;
/** Winner byte values. */
const NO_WINNER: u8 = 0;
const DRAW: u8 = 3;

/** The eight winning lines as cell bitmasks: rows, columns, diagonals. */
const LINES: StaticArray<u32> = [0x007, 0x038, 0x1c0, 0x049, 0x092, 0x124, 0x111, 0x054];

/** True when `marks` contains a full line. */
// @ts-ignore: decorator
@inline function hasLine(marks: u32): bool {
  for (let i = 0; i < 8; i++) {
    const line = unchecked(LINES[i]);
    if ((marks & line) == line) return true;
  }
  return false;
}

/** A position: the cells of each player as bitmasks, whose turn it is, and the result. */
export class Board {
  /** marks[0]: X's cells, marks[1]: O's cells (bit i = cell i, row-major from the top left). */
  x: u32 = 0;
  o: u32 = 0;
  /** 0 = X to move, 1 = O to move. */
  player: u8 = 0;
  /** 0 none, 1 X won, 2 O won, 3 draw. */
  winner: u8 = NO_WINNER;
}

/** A move: the cell to mark, 0-8. */
export class Move {
  cell: u32 = 0;
}

/** The game's rules, written against the SDK's game contract (sdk/assembly/game.ts). */
export class TicTacToe {
  newState(): Board {
    return new Board();
  }

  newAction(): Move {
    return new Move();
  }

  reset(board: Board, _rng: Rng, _hint: ByteView): i32 {
    board.x = 0;
    board.o = 0;
    board.player = 0;
    board.winner = NO_WINNER;
    return OK;
  }

  step(board: Board, move: Move, outcome: Outcome): i32 {
    const bit: u32 = 1 << move.cell;
    if (((board.x | board.o) & bit) != 0) return ILLEGAL_ACTION;
    const mover = <i32>board.player;
    let marks: u32;
    if (mover == 0) {
      marks = board.x | bit;
      board.x = marks;
    } else {
      marks = board.o | bit;
      board.o = marks;
    }
    board.player = <u8>(mover ^ 1);
    if (hasLine(marks)) {
      board.winner = <u8>(mover + 1);
      outcome.win2(mover, mover);
    } else if ((board.x | board.o) == FULL) {
      board.winner = DRAW;
      outcome.draw();
    }
    return OK;
  }

  legalActions(board: Board, mask: usize): void {
    const empty = ~(board.x | board.o);
    for (let i = 0; i < CELLS; i++) store<u8>(mask + <usize>i, <u8>((empty >> i) & 1));
  }

  /**
   * Accepts exactly the reachable positions: cells 0-2, X moves first (so X has as many marks as
   * O or one more, and the player byte follows from the counts), and the winner byte agrees with
   * the lines on the board (a won game has exactly one winner, who moved last).
   */
  decodeState(ptr: usize, board: Board): i32 {
    let x: u32 = 0;
    let o: u32 = 0;
    for (let i = 0; i < CELLS; i++) {
      const cell = load<u8>(ptr + <usize>i);
      if (cell == 1) x |= 1 << i;
      else if (cell == 2) o |= 1 << i;
      else if (cell != 0) return MALFORMED_STATE;
    }
    const player = load<u8>(ptr, 9);
    const winner = load<u8>(ptr, 10);
    const xCount = popcnt<u32>(x);
    const oCount = popcnt<u32>(o);
    if (xCount == oCount) {
      if (player != 0) return MALFORMED_STATE;
    } else if (xCount == oCount + 1) {
      if (player != 1) return MALFORMED_STATE;
    } else {
      return MALFORMED_STATE;
    }
    const xLine = hasLine(x);
    const oLine = hasLine(o);
    let consistent: bool;
    if (winner == NO_WINNER) consistent = !xLine && !oLine && (x | o) != FULL;
    else if (winner == 1) consistent = xLine && !oLine && player == 1;
    else if (winner == 2) consistent = oLine && !xLine && player == 0;
    else if (winner == DRAW) consistent = !xLine && !oLine && (x | o) == FULL;
    else consistent = false;
    if (!consistent) return MALFORMED_STATE;
    board.x = x;
    board.o = o;
    board.player = player;
    board.winner = winner;
    return OK;
  }

  encodeState(board: Board, ptr: usize): void {
    const x = board.x;
    const o = board.o;
    for (let i = 0; i < CELLS; i++) {
      store<u8>(ptr + <usize>i, <u8>(((x >> i) & 1) | (((o >> i) & 1) << 1)));
    }
    store<u8>(ptr, board.player, 9);
    store<u8>(ptr, board.winner, 10);
  }

  /** 27 f32: X one-hot (9), O one-hot (9), legal-move mask (9; all 0 once the game is over). */
  encodeObs(board: Board, ptr: usize): void {
    const x = board.x;
    const o = board.o;
    const legal: u32 = board.winner == NO_WINNER ? ~(x | o) : 0;
    for (let i = 0; i < CELLS; i++) {
      const at = ptr + (<usize>i << 2);
      store<f32>(at, <f32>((x >> i) & 1));
      store<f32>(at, <f32>((o >> i) & 1), 36);
      store<f32>(at, <f32>((legal >> i) & 1), 72);
    }
  }

  decodeAction(ptr: usize, move: Move): i32 {
    const cell = load<u32>(ptr);
    if (cell >= <u32>CELLS) return MALFORMED_ACTION;
    move.cell = cell;
    return OK;
  }

  isOver(board: Board): bool {
    return board.winner != NO_WINNER;
  }

  currentPlayer(board: Board): i32 {
    return <i32>board.player;
  }
}
