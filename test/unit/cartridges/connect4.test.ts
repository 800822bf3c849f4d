import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { CallError, type CartridgeEngine } from "../../../host/runtime/index.js";
import { engineWith, floats, u32Action } from "./bundled.js";

const env = { envId: "connect4-v1" };
const ROWS = 6;
const COLUMNS = 7;
const STATE_BYTES = 44;
const OBS_BYTES = 364;

/** A small independent Connect Four: a cell array scanned for lines, no bitboards. */
class Reference {
  readonly cells = new Array<number>(ROWS * COLUMNS).fill(0);
  player = 0;
  winner = 0;

  height(column: number): number {
    let h = 0;
    while (h < ROWS && this.cells[h * COLUMNS + column] !== 0) h++;
    return h;
  }

  hasFour(mark: number): boolean {
    const at = (r: number, c: number) =>
      r >= 0 && r < ROWS && c >= 0 && c < COLUMNS && this.cells[r * COLUMNS + c] === mark;
    for (let r = 0; r < ROWS; r++) {
      for (let c = 0; c < COLUMNS; c++) {
        for (const [dr, dc] of [
          [0, 1],
          [1, 0],
          [1, 1],
          [1, -1],
        ] as const) {
          if ([0, 1, 2, 3].every((k) => at(r + k * dr, c + k * dc))) return true;
        }
      }
    }
    return false;
  }

  /** Plays `column`; returns the mover's reward, or undefined if the move is refused. */
  play(column: number): "illegal" | "over" | "malformed" | number {
    if (this.winner !== 0) return "over";
    if (!Number.isInteger(column) || column < 0 || column >= COLUMNS) return "malformed";
    const h = this.height(column);
    if (h >= ROWS) return "illegal";
    const mark = this.player + 1;
    this.cells[h * COLUMNS + column] = mark;
    this.player = 1 - this.player;
    if (this.hasFour(mark)) {
      this.winner = mark;
      return 1;
    }
    if (this.cells.every((cell) => cell !== 0)) this.winner = 3;
    return 0;
  }

  bytes(): Uint8Array {
    return Uint8Array.from([...this.cells, this.player, this.winner]);
  }

  obs(): Float32Array {
    const obs = new Float32Array(91);
    this.cells.forEach((cell, i) => {
      obs[i] = cell === 1 ? 1 : 0;
      obs[42 + i] = cell === 2 ? 1 : 0;
    });
    for (let c = 0; c < COLUMNS; c++) {
      obs[84 + c] = this.winner === 0 && this.height(c) < ROWS ? 1 : 0;
    }
    return obs;
  }
}

/**
 * The README's decoding rule, written plainly: cells 0-2, no floating piece, piece counts that fit
 * the turn order and the player byte, and a winner byte that agrees with the lines on the board.
 */
function consistent(bytes: Uint8Array): boolean {
  const reference = new Reference();
  for (let i = 0; i < ROWS * COLUMNS; i++) {
    const cell = bytes[i]!;
    if (cell > 2) return false;
    if (cell !== 0 && i >= COLUMNS && bytes[i - COLUMNS] === 0) return false;
    reference.cells[i] = cell;
  }
  const firsts = reference.cells.filter((c) => c === 1).length;
  const seconds = reference.cells.filter((c) => c === 2).length;
  const player = bytes[42]!;
  const winner = bytes[43]!;
  if (player !== firsts - seconds || (player !== 0 && player !== 1)) return false;
  const firstFour = reference.hasFour(1);
  const secondFour = reference.hasFour(2);
  const full = firsts + seconds === ROWS * COLUMNS;
  if (winner === 0) return !firstFour && !secondFour && !full;
  if (winner === 1) return firstFour && !secondFour && player === 1;
  if (winner === 2) return secondFour && !firstFour && player === 0;
  if (winner === 3) return !firstFour && !secondFour && full;
  return false;
}

/** State bytes from random play, sometimes with one byte changed to a random value. */
const stateBytes = fc
  .record({
    moves: fc.array(fc.integer({ min: 0, max: COLUMNS - 1 }), { maxLength: 50 }),
    flaw: fc.option(
      fc.record({ at: fc.nat(STATE_BYTES - 1), value: fc.integer({ min: 0, max: 5 }) }),
    ),
  })
  .map(({ moves, flaw }) => {
    const reference = new Reference();
    for (const column of moves) reference.play(column);
    const bytes = reference.bytes();
    if (flaw !== null) bytes[flaw.at] = flaw.value;
    return bytes;
  });

let engine: CartridgeEngine;

beforeAll(async () => {
  engine = await engineWith("connect4", env.envId);
});

/** Plays `columns` from the start and returns the last transition. */
function playAll(columns: number[]) {
  let t = engine.reset(env, 1n);
  for (const column of columns) t = engine.step(env, t.state, u32Action(column));
  return t;
}

function errorCode(call: () => unknown): string | undefined {
  try {
    call();
    return undefined;
  } catch (error) {
    return error instanceof CallError ? error.code : `untyped ${String(error)}`;
  }
}

describe("connect4-v1", () => {
  it("resets to an empty board with every column open", () => {
    const t = engine.reset(env, 5n);
    expect(t.state).toEqual(new Reference().bytes());
    expect(floats(t.obs)).toEqual(new Reference().obs());
    expect(Array.from(t.legalMask)).toEqual([1, 1, 1, 1, 1, 1, 1]);
    expect(t.currentPlayer).toBe(0);
  });

  it("drops pieces to the lowest empty cell (gravity)", () => {
    const t = playAll([3, 3, 3]);
    expect(t.state[3]).toBe(1);
    expect(t.state[COLUMNS + 3]).toBe(2);
    expect(t.state[2 * COLUMNS + 3]).toBe(1);
    expect(t.state[3 * COLUMNS + 3]).toBe(0);
    expect(t.currentPlayer).toBe(1);
  });

  it.each([
    ["horizontal", [0, 0, 1, 1, 2, 2, 3], 1],
    ["vertical", [0, 1, 0, 1, 0, 1, 0], 1],
    ["diagonal", [0, 1, 1, 2, 2, 3, 2, 3, 3, 6, 3], 1],
    ["anti-diagonal", [6, 5, 5, 4, 4, 3, 4, 3, 3, 0, 3], 1],
    ["second player", [0, 1, 0, 1, 0, 1, 6, 1], 2],
  ] as const)("ends a %s win with +1/-1", (_name, moves, winner) => {
    const t = playAll([...moves]);
    expect(t.terminated).toBe(true);
    expect(t.truncated).toBe(false);
    expect(t.reward).toBe(1);
    expect(Array.from(t.playerRewards)).toEqual(winner === 1 ? [1, -1] : [-1, 1]);
    expect(t.currentPlayer).toBe(-1);
    expect(t.state[43]).toBe(winner);
    expect(Array.from(t.legalMask)).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(errorCode(() => engine.step(env, t.state, u32Action(4)))).toBe("EpisodeOver");
  });

  it("refuses a full column and an out-of-range column, and closes the full column in the mask", () => {
    const t = playAll([2, 2, 2, 2, 2, 2]);
    expect(t.legalMask[2]).toBe(0);
    expect(floats(t.obs)[84 + 2]).toBe(0);
    expect(errorCode(() => engine.step(env, t.state, u32Action(2)))).toBe("IllegalAction");
    expect(errorCode(() => engine.step(env, t.state, u32Action(7)))).toBe("BadAction");
  });

  it("rejects floating pieces, impossible counts and a winner byte without a line", () => {
    const floating = new Reference().bytes();
    floating[COLUMNS] = 1; // row 1, column 0, nothing below
    floating[1] = 2;
    floating[42] = 0;
    const counts = new Reference().bytes();
    counts[0] = 1;
    counts[1] = 1;
    const noLine = playAll([0, 1]).state;
    noLine[43] = 1;
    for (const state of [floating, counts, noLine]) {
      expect(errorCode(() => engine.step(env, state, u32Action(3)))).toBe("BadState");
    }
  });

  it("accepts state bytes exactly when they are consistent (random boards)", () => {
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(stateBytes, (bytes) => {
        const code = errorCode(() => engine.step(env, bytes, u32Action(0)));
        expect(code === "BadState").toBe(!consistent(bytes));
        if (code === "BadState") rejected++;
        else accepted++;
      }),
      { numRuns: 3000 },
    );
    // The generator must reach both sides of the rule for the test to mean anything.
    expect(accepted).toBeGreaterThan(100);
    expect(rejected).toBeGreaterThan(100);
  });

  it("replays random rollouts exactly through the reference, within the 42-move horizon", () => {
    let reference = new Reference();
    let episodes = 0;
    for (const chunk of engine.rollout({
      ...env,
      seed: 77n,
      episodes: 150,
      stepCap: 42,
      includeObs: true,
    })) {
      for (let r = 0; r < chunk.rows; r++) {
        if (chunk.steps[r] === 0) {
          reference = new Reference();
          episodes++;
        }
        expect(chunk.steps[r]).toBeLessThan(42);
        const column = chunk.actions[4 * r]!;
        const reward = reference.play(column);
        expect(typeof reward).toBe("number");
        expect(chunk.states.slice(r * STATE_BYTES, (r + 1) * STATE_BYTES)).toEqual(
          reference.bytes(),
        );
        expect(floats(chunk.obs.slice(r * OBS_BYTES, (r + 1) * OBS_BYTES))).toEqual(
          reference.obs(),
        );
        expect(chunk.rewards[r]).toBe(reward);
        expect(chunk.flags[r]).toBe(reference.winner === 0 ? 0 : 1);
      }
    }
    expect(episodes).toBe(150);
  });

  it("keeps every untouched byte when re-encoding, and never traps, on random move sequences", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 8 }), { maxLength: 60 }), (columns) => {
        const reference = new Reference();
        let state = engine.reset(env, 3n).state;
        for (const column of columns) {
          const expected = reference.play(column);
          let t: ReturnType<CartridgeEngine["step"]> | undefined;
          const code = errorCode(() => {
            t = engine.step(env, state, u32Action(column));
          });
          if (typeof expected !== "number") {
            expect(code).toBe(
              { illegal: "IllegalAction", over: "EpisodeOver", malformed: "BadAction" }[expected],
            );
            continue;
          }
          expect(code).toBeUndefined();
          const next = t!.state;
          // decode then encode: only the played cell and the player/winner bytes may change.
          const changed = [...next.keys()].filter((i) => next[i] !== state[i] && i < 42);
          expect(changed).toHaveLength(1);
          expect(next).toEqual(reference.bytes());
          expect(floats(t!.obs)).toEqual(reference.obs());
          state = next;
        }
      }),
      { numRuns: 60 },
    );
  });
});
