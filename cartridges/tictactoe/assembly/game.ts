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
} from "cartridge/sdk";

/** Number of cells, and of discrete actions. */
const CELLS: i32 = 9;
/** A full board: all nine bits set. */
const FULL: u32 = 0x1ff;
/** Winner byte values. */
const NO_WINNER: u8 = 0;
const DRAW: u8 = 3;

/** True when `marks` holds the full line `line`. */
// @ts-ignore: decorator
@inline function full(marks: u32, line: u32): bool {
  return (marks & line) == line;
}

/**
 * True when `marks` contains a full line (rows, columns, diagonals). Written out rather than
 * looped over a table: this runs on every step, and straight-line code costs no loop fuel.
 */
// @ts-ignore: decorator
@inline function hasLine(marks: u32): bool {
  return (
    full(marks, 0x007) ||
    full(marks, 0x038) ||
    full(marks, 0x1c0) ||
    full(marks, 0x049) ||
    full(marks, 0x092) ||
    full(marks, 0x124) ||
    full(marks, 0x111) ||
    full(marks, 0x054)
  );
}

/** Writes cell `i`'s three observation floats (X, O, legal) from the bitmasks. */
// @ts-ignore: decorator
@inline function obsCell(ptr: usize, x: u32, o: u32, legal: u32, i: u32): void {
  const at = ptr + (<usize>i << 2);
  store<f32>(at, <f32>((x >> i) & 1));
  store<f32>(at, <f32>((o >> i) & 1), 36);
  store<f32>(at, <f32>((legal >> i) & 1), 72);
}

/** Writes cell `i`'s mask byte: 1 when the cell is empty. */
// @ts-ignore: decorator
@inline function maskCell(ptr: usize, empty: u32, i: u32): void {
  store<u8>(ptr + <usize>i, <u8>((empty >> i) & 1));
}

/** Masks for checking eight state bytes at once. */
const HIGH_BITS: u64 = 0xfcfcfcfcfcfcfcfc;
const BYTE_ONES: u64 = 0x0101010101010101;
/** Multiplying by this moves bit 0 of byte i to bit 56 + i (the products never overlap). */
const GATHER: u64 = 0x0102040810204080;

/** Packs bit 0 of each of the eight bytes of `bytes` (each 0 or 1) into an 8-bit mask. */
// @ts-ignore: decorator
@inline function gatherBytes(bytes: u64): u32 {
  return <u32>((bytes * GATHER) >> 56);
}

/** Keeps bit i of byte i when every byte holds the same value. */
const DIAGONAL: u64 = 0x8040201008040201;
/** Adding this to a byte that is 0 or a power of two sets its bit 7 exactly when it is not 0. */
const LOW_SEVENS: u64 = 0x7f7f7f7f7f7f7f7f;

/** Spreads the low eight bits of `bits` over eight bytes: byte i becomes bit i (0 or 1). */
// @ts-ignore: decorator
@inline function spreadBytes(bits: u32): u64 {
  // Copy the byte into all eight bytes, keep bit i in byte i, then turn each non-zero byte into 1
  // (no byte carries into the next: each is at most 0x80 + 0x7f).
  const copies = (<u64>(bits & 0xff) * BYTE_ONES) & DIAGONAL;
  return ((copies + LOW_SEVENS) >> 7) & BYTE_ONES;
}

/** A position: the cells of each player as bitmasks, whose turn it is, and the result. */
export class Board {
  /** X's cells and O's cells as bitmasks (bit i = cell i, row-major from the top left). */
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

  // @ts-ignore: decorator
  @inline step(board: Board, move: Move, outcome: Outcome): i32 {
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

  /** The empty cells as bits (bit i = cell i): the SDK's policy draws from these. */
  // @ts-ignore: decorator
  @inline legalBits(board: Board): u64 {
    return <u64>(~(board.x | board.o) & FULL);
  }

  // The nine-cell loops below are unrolled by hand (the calls are inlined): they run on every
  // step of a rollout.
  // @ts-ignore: decorator
  @inline legalActions(board: Board, mask: usize): void {
    const empty = ~(board.x | board.o);
    maskCell(mask, empty, 0);
    maskCell(mask, empty, 1);
    maskCell(mask, empty, 2);
    maskCell(mask, empty, 3);
    maskCell(mask, empty, 4);
    maskCell(mask, empty, 5);
    maskCell(mask, empty, 6);
    maskCell(mask, empty, 7);
    maskCell(mask, empty, 8);
  }

  /**
   * Accepts exactly the reachable positions: cells 0-2, X moves first (so X has as many marks as
   * O or one more, and the player byte follows from the counts), and the winner byte agrees with
   * the lines on the board (a won game has exactly one winner, who moved last).
   */
  // @ts-ignore: decorator
  @inline decodeState(ptr: usize, board: Board): i32 {
    // Cells 0-7 in one u64 load and cell 8 on its own, checked and split into the two bitmasks
    // without a loop: no byte may have a bit above bit 1, nor both low bits set (the value 3).
    const low = load<u64>(ptr);
    const last = load<u8>(ptr, 8);
    if ((low & HIGH_BITS) != 0 || (low & (low >> 1) & BYTE_ONES) != 0 || last > 2) {
      return MALFORMED_STATE;
    }
    const x = gatherBytes(low & BYTE_ONES) | (<u32>(last & 1) << 8);
    const o = gatherBytes((low >> 1) & BYTE_ONES) | (<u32>(last >> 1) << 8);
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

  // @ts-ignore: decorator
  @inline encodeState(board: Board, ptr: usize): void {
    const x = board.x;
    const o = board.o;
    // Cells 0-7 in one u64 store (the inverse of decodeState's gather), cell 8 on its own.
    store<u64>(ptr, spreadBytes(x) | (spreadBytes(o) << 1));
    store<u8>(ptr, <u8>(((x >> 8) & 1) | (((o >> 8) & 1) << 1)), 8);
    store<u8>(ptr, board.player, 9);
    store<u8>(ptr, board.winner, 10);
  }

  /** 27 f32: X one-hot (9), O one-hot (9), legal-move mask (9; all 0 once the game is over). */
  // @ts-ignore: decorator
  @inline encodeObs(board: Board, ptr: usize): void {
    const x = board.x;
    const o = board.o;
    const legal: u32 = board.winner == NO_WINNER ? ~(x | o) : 0;
    obsCell(ptr, x, o, legal, 0);
    obsCell(ptr, x, o, legal, 1);
    obsCell(ptr, x, o, legal, 2);
    obsCell(ptr, x, o, legal, 3);
    obsCell(ptr, x, o, legal, 4);
    obsCell(ptr, x, o, legal, 5);
    obsCell(ptr, x, o, legal, 6);
    obsCell(ptr, x, o, legal, 7);
    obsCell(ptr, x, o, legal, 8);
  }

  // @ts-ignore: decorator
  @inline decodeAction(ptr: usize, move: Move): i32 {
    const cell = load<u32>(ptr);
    if (cell >= <u32>CELLS) return MALFORMED_ACTION;
    move.cell = cell;
    return OK;
  }

  // @ts-ignore: decorator
  @inline isOver(board: Board): bool {
    return board.winner != NO_WINNER;
  }

  // @ts-ignore: decorator
  @inline currentPlayer(board: Board): i32 {
    return <i32>board.player;
  }
}
