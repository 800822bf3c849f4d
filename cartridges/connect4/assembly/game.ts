// Connect Four for the Cartridge SDK: a 6-row, 7-column board, pieces fall to the lowest empty cell
// of the chosen column, four in a row (any direction) wins. Each player's pieces are kept as a
// 64-bit board with 7 bits per column (6 cells and one always-empty guard bit), so "four in a row"
// is four shift-and-mask tests. The byte encodings are in ../README.md.

import {
  ByteView,
  ILLEGAL_ACTION,
  MALFORMED_ACTION,
  MALFORMED_STATE,
  OK,
  Outcome,
  Rng,
} from "cartridge/sdk";

const ROWS: i32 = 6;
const COLUMNS: i32 = 7;
const CELLS: i32 = ROWS * COLUMNS;
/** Bits per column in a bitboard: six cells and a guard bit that stops lines wrapping. */
const COLUMN_BITS: i32 = ROWS + 1;
/** Winner byte values. */
const NO_WINNER: u8 = 0;
const DRAW: u8 = 3;
/** Byte offsets in the state encoding. */
const PLAYER_OFFSET: usize = 42;
const WINNER_OFFSET: usize = 43;
/** Float offsets of the observation's planes and mask, in bytes. */
const OBS_SECOND_PLANE: usize = 4 * 42;
const OBS_MASK: usize = 4 * 84;

/** Bit of cell (row, column) in a bitboard; row 0 is the bottom. */
// @ts-ignore: decorator
@inline function cellBit(row: i32, column: i32): u64 {
  return (<u64>1) << (<u64>(column * COLUMN_BITS + row));
}

/** True when the bitboard holds four in a row horizontally, vertically or diagonally. */
// @ts-ignore: decorator
@inline function hasFour(board: u64): bool {
  // Shifting by 1 walks up a column, by 7 along a row, by 6 and 8 along the two diagonals.
  let pairs = board & (board >> 1);
  if ((pairs & (pairs >> 2)) != 0) return true;
  pairs = board & (board >> 7);
  if ((pairs & (pairs >> 14)) != 0) return true;
  pairs = board & (board >> 6);
  if ((pairs & (pairs >> 12)) != 0) return true;
  pairs = board & (board >> 8);
  return (pairs & (pairs >> 16)) != 0;
}

/** Bit 0 of each column of a bitboard (bits 0, 7, ..., 42): row 0 of every column. */
const ROW_BITS: u64 = 0x0000040810204081;
/** Bit 0 of every byte. */
const BYTE_ONES: u64 = 0x0101010101010101;

/**
 * Row `row` of a bitboard as seven bytes, byte c = the piece bit of column c. Multiplying the
 * row's bits (at 7c) by 0x7f adds copies shifted by 0 to 6; the copy of column c's bit shifted by
 * c lands at 8c, and no two copies share a position (7c + j is unique for j < 7), so nothing
 * carries.
 */
// @ts-ignore: decorator
@inline function rowBytes(board: u64, row: i32): u64 {
  return (((board >> (<u64>row)) & ROW_BITS) * 0x7f) & BYTE_ONES;
}

/** Bits 2-7 of every byte: set in a state byte above 3. */
const HIGH_BITS: u64 = 0xfcfcfcfcfcfcfcfc;
/** The low seven bytes of a u64: one row of state bytes. */
const ROW_BYTES: u64 = 0x00ffffffffffffff;

/**
 * The inverse of `rowBytes`: seven bytes (each 0 or 1) to bitboard bits 7c + `row`. Multiplying by
 * 0x7f adds copies shifted by 0 to 6; the copy of byte c's bit shifted by 6 - c lands at 7c + 6,
 * and no two copies share a position (8c + j is unique for j < 7), so nothing carries.
 */
// @ts-ignore: decorator
@inline function rowBits(bytes: u64, row: i32): u64 {
  return (((bytes * 0x7f) >> 6) & ROW_BITS) << (<u64>row);
}

/** True when every byte of a row of state bytes is 0-2: no bit above bit 1, not both low bits. */
// @ts-ignore: decorator
@inline function rowValid(bytes: u64): bool {
  return (bytes & HIGH_BITS) == 0 && (bytes & (bytes >> 1) & BYTE_ONES) == 0;
}

/** Writes row `row`'s seven state bytes (and a zero after them, which the next field overwrites). */
// @ts-ignore: decorator
@inline function storeRow(ptr: usize, row: i32, first: u64, second: u64): void {
  store<u64>(ptr + <usize>(row * COLUMNS), rowBytes(first, row) | (rowBytes(second, row) << 1));
}

/** Writes seven floats, float c = bit 0 of byte c of `bytes` (each byte 0 or 1). */
// @ts-ignore: decorator
@inline function storeFloats7(at: usize, bytes: u64): void {
  const low = <u32>bytes;
  const high = <u32>(bytes >> 32);
  store<f32>(at, <f32>(low & 1));
  store<f32>(at, <f32>((low >> 8) & 1), 4);
  store<f32>(at, <f32>((low >> 16) & 1), 8);
  store<f32>(at, <f32>(low >> 24), 12);
  store<f32>(at, <f32>(high & 1), 16);
  store<f32>(at, <f32>((high >> 8) & 1), 20);
  store<f32>(at, <f32>((high >> 16) & 1), 24);
}

/** Writes row `row` of both observation planes. */
// @ts-ignore: decorator
@inline function storeObsRow(ptr: usize, row: i32, first: u64, second: u64): void {
  const at = ptr + (<usize>(row * COLUMNS) << 2);
  storeFloats7(at, rowBytes(first, row));
  storeFloats7(at + OBS_SECOND_PLANE, rowBytes(second, row));
}

/** A position: each player's pieces, the column heights, whose turn it is, and the result. */
export class Position {
  /** pieces of the first player (X) and of the second (O), as bitboards. */
  first: u64 = 0;
  second: u64 = 0;
  /** Number of pieces in each column. */
  readonly heights: StaticArray<u8> = new StaticArray<u8>(COLUMNS);
  /** 0 = first player to move, 1 = second. */
  player: u8 = 0;
  /** 0 none, 1 first player won, 2 second player won, 3 draw. */
  winner: u8 = NO_WINNER;
  /** Pieces on the board. */
  pieces: i32 = 0;
}

/** A move: the column to drop a piece into, 0-6. */
export class Drop {
  column: i32 = 0;
}

/** The game's rules, written against the SDK's game contract (sdk/assembly/game.ts). */
export class ConnectFour {
  newState(): Position {
    return new Position();
  }

  newAction(): Drop {
    return new Drop();
  }

  reset(position: Position, _rng: Rng, _hint: ByteView): i32 {
    position.first = 0;
    position.second = 0;
    for (let c = 0; c < COLUMNS; c++) unchecked((position.heights[c] = 0));
    position.player = 0;
    position.winner = NO_WINNER;
    position.pieces = 0;
    return OK;
  }

  // @ts-ignore: decorator
  @inline step(position: Position, drop: Drop, outcome: Outcome): i32 {
    const column = drop.column;
    const height = <i32>unchecked(position.heights[column]);
    if (height >= ROWS) return ILLEGAL_ACTION;
    const bit = cellBit(height, column);
    unchecked((position.heights[column] = <u8>(height + 1)));
    position.pieces++;
    const mover = <i32>position.player;
    let mine: u64;
    if (mover == 0) {
      mine = position.first | bit;
      position.first = mine;
    } else {
      mine = position.second | bit;
      position.second = mine;
    }
    position.player = <u8>(mover ^ 1);
    if (hasFour(mine)) {
      position.winner = <u8>(mover + 1);
      outcome.win2(mover, mover);
    } else if (position.pieces == CELLS) {
      position.winner = DRAW;
      outcome.draw();
    }
    return OK;
  }

  // @ts-ignore: decorator
  @inline legalActions(position: Position, mask: usize): void {
    for (let c = 0; c < COLUMNS; c++) {
      store<u8>(mask + <usize>c, <u8>(<i32>unchecked(position.heights[c]) < ROWS));
    }
  }

  /**
   * The playable columns as bits (bit c = column c): a column is playable when its top cell
   * (bitboard bit 7c + 5) is empty, so shifting that bit right by 6c + 5 puts it at bit c.
   */
  // @ts-ignore: decorator
  @inline legalBits(position: Position): u64 {
    const free = ~(position.first | position.second);
    return (
      ((free >> 5) & 0x01) |
      ((free >> 11) & 0x02) |
      ((free >> 17) & 0x04) |
      ((free >> 23) & 0x08) |
      ((free >> 29) & 0x10) |
      ((free >> 35) & 0x20) |
      ((free >> 41) & 0x40)
    );
  }

  /**
   * Accepts consistent positions: cells 0-2, no piece above an empty cell, the first player has as
   * many pieces as the second or one more (and the player byte follows from the counts), and the
   * winner byte agrees with the lines on the board. It does not replay the game, so a consistent
   * position that no move order reaches (say, a second-player piece alone at the bottom with a
   * first-player piece on top of it) is accepted.
   */
  // @ts-ignore: decorator
  @inline decodeState(ptr: usize, position: Position): i32 {
    // Row by row, seven bytes at a time (the top row's load reaches the player byte, masked
    // off): every byte must be 0-2.
    const row0 = load<u64>(ptr) & ROW_BYTES;
    const row1 = load<u64>(ptr, 7) & ROW_BYTES;
    const row2 = load<u64>(ptr, 14) & ROW_BYTES;
    const row3 = load<u64>(ptr, 21) & ROW_BYTES;
    const row4 = load<u64>(ptr, 28) & ROW_BYTES;
    const row5 = load<u64>(ptr, 35) & ROW_BYTES;
    if (
      !rowValid(row0) ||
      !rowValid(row1) ||
      !rowValid(row2) ||
      !rowValid(row3) ||
      !rowValid(row4) ||
      !rowValid(row5)
    ) {
      return MALFORMED_STATE;
    }
    const first =
      rowBits(row0 & BYTE_ONES, 0) |
      rowBits(row1 & BYTE_ONES, 1) |
      rowBits(row2 & BYTE_ONES, 2) |
      rowBits(row3 & BYTE_ONES, 3) |
      rowBits(row4 & BYTE_ONES, 4) |
      rowBits(row5 & BYTE_ONES, 5);
    const second =
      rowBits((row0 >> 1) & BYTE_ONES, 0) |
      rowBits((row1 >> 1) & BYTE_ONES, 1) |
      rowBits((row2 >> 1) & BYTE_ONES, 2) |
      rowBits((row3 >> 1) & BYTE_ONES, 3) |
      rowBits((row4 >> 1) & BYTE_ONES, 4) |
      rowBits((row5 >> 1) & BYTE_ONES, 5);
    // No floating piece: each column's occupied cells are its lowest ones, so adding 1 at the
    // bottom of every column clears them all (a column holds at most six, below its guard bit).
    const occupied = first | second;
    if (((occupied + ROW_BITS) & occupied) != 0) return MALFORMED_STATE;
    const heights = position.heights;
    unchecked((heights[0] = <u8>popcnt<u64>(occupied & 0x3f)));
    unchecked((heights[1] = <u8>popcnt<u64>((occupied >> 7) & 0x3f)));
    unchecked((heights[2] = <u8>popcnt<u64>((occupied >> 14) & 0x3f)));
    unchecked((heights[3] = <u8>popcnt<u64>((occupied >> 21) & 0x3f)));
    unchecked((heights[4] = <u8>popcnt<u64>((occupied >> 28) & 0x3f)));
    unchecked((heights[5] = <u8>popcnt<u64>((occupied >> 35) & 0x3f)));
    unchecked((heights[6] = <u8>popcnt<u64>((occupied >> 42) & 0x3f)));
    const firstCount = <i32>popcnt<u64>(first);
    const secondCount = <i32>popcnt<u64>(second);
    const player = load<u8>(ptr + PLAYER_OFFSET);
    const winner = load<u8>(ptr + WINNER_OFFSET);
    if (firstCount == secondCount) {
      if (player != 0) return MALFORMED_STATE;
    } else if (firstCount == secondCount + 1) {
      if (player != 1) return MALFORMED_STATE;
    } else {
      return MALFORMED_STATE;
    }
    const pieces = firstCount + secondCount;
    const firstFour = hasFour(first);
    const secondFour = hasFour(second);
    let consistent: bool;
    if (winner == NO_WINNER) consistent = !firstFour && !secondFour && pieces < CELLS;
    else if (winner == 1) consistent = firstFour && !secondFour && player == 1;
    else if (winner == 2) consistent = secondFour && !firstFour && player == 0;
    else if (winner == DRAW) consistent = !firstFour && !secondFour && pieces == CELLS;
    else consistent = false;
    if (!consistent) return MALFORMED_STATE;
    position.first = first;
    position.second = second;
    position.player = player;
    position.winner = winner;
    position.pieces = pieces;
    return OK;
  }

  // @ts-ignore: decorator
  @inline encodeState(position: Position, ptr: usize): void {
    const first = position.first;
    const second = position.second;
    // Bottom row first: each u64 store's eighth byte is the next row's first, and the top row's
    // is the player byte, both written after it.
    storeRow(ptr, 0, first, second);
    storeRow(ptr, 1, first, second);
    storeRow(ptr, 2, first, second);
    storeRow(ptr, 3, first, second);
    storeRow(ptr, 4, first, second);
    storeRow(ptr, 5, first, second);
    store<u8>(ptr + PLAYER_OFFSET, position.player);
    store<u8>(ptr + WINNER_OFFSET, position.winner);
  }

  /** 91 f32: first player's plane (42), second player's plane (42), legal-column mask (7). */
  // @ts-ignore: decorator
  @inline encodeObs(position: Position, ptr: usize): void {
    const first = position.first;
    const second = position.second;
    // Row by row, written out (the rows are contiguous in both planes), no loop.
    storeObsRow(ptr, 0, first, second);
    storeObsRow(ptr, 1, first, second);
    storeObsRow(ptr, 2, first, second);
    storeObsRow(ptr, 3, first, second);
    storeObsRow(ptr, 4, first, second);
    storeObsRow(ptr, 5, first, second);
    // The legal columns, as one row of bits spread to bytes; none once the game is over.
    const legal = position.winner == NO_WINNER ? this.legalBits(position) : 0;
    storeFloats7(ptr + OBS_MASK, (legal * 0x0002040810204081) & BYTE_ONES);
  }

  // @ts-ignore: decorator
  @inline decodeAction(ptr: usize, drop: Drop): i32 {
    const column = load<u32>(ptr);
    if (column >= <u32>COLUMNS) return MALFORMED_ACTION;
    drop.column = <i32>column;
    return OK;
  }

  // @ts-ignore: decorator
  @inline isOver(position: Position): bool {
    return position.winner != NO_WINNER;
  }

  // @ts-ignore: decorator
  @inline currentPlayer(position: Position): i32 {
    return <i32>position.player;
  }
}
