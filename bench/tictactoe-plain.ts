/**
 * The plain TypeScript reference for the runtime benchmark: random self-play tic-tac-toe written
 * the way one would without a cartridge. Each step picks a uniformly random legal move with a
 * seeded xorshift generator, plays it, checks for a win or a draw and writes the 27-float
 * observation (X one-hot, O one-hot, legal mask), resetting when the game is over.
 */

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

/**
 * xorshift32: a small seeded generator (never Math.random, so runs are reproducible). The state
 * stays an int32 so that V8 keeps it unboxed, and `below` maps to a range by multiply-and-shift
 * (Lemire's method without rejection; its bias is below 2^-28 for n <= 9).
 */
export class XorShift32 {
  private state: number;

  constructor(seed: number) {
    this.state = seed | 0 || 0x1e3779b9;
  }

  /** A uniform integer in [0, n). */
  below(n: number): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x;
    return Math.floor(((x >>> 0) * n) / 4_294_967_296);
  }
}

/** One game of tic-tac-toe with its observation buffer. */
export class PlainTicTacToe {
  /** 0 empty, 1 X, 2 O. */
  readonly cells = new Uint8Array(9);
  readonly obs = new Float32Array(27);
  player = 1;
  over = false;
  reward = 0;
  private readonly legal: number[] = [];

  reset(): void {
    this.cells.fill(0);
    this.player = 1;
    this.over = false;
    this.reward = 0;
    this.writeObs();
  }

  legalMoves(): number[] {
    this.legal.length = 0;
    if (this.over) return this.legal;
    for (let i = 0; i < 9; i++) if (this.cells[i] === 0) this.legal.push(i);
    return this.legal;
  }

  private wins(mark: number): boolean {
    return LINES.some(
      ([a, b, c]) => this.cells[a] === mark && this.cells[b] === mark && this.cells[c] === mark,
    );
  }

  step(cell: number): void {
    if (this.over || this.cells[cell] !== 0) throw new Error(`illegal move ${cell}`);
    const mark = this.player;
    this.cells[cell] = mark;
    if (this.wins(mark)) {
      this.over = true;
      this.reward = 1;
    } else if (!this.cells.includes(0)) {
      this.over = true;
      this.reward = 0;
    } else {
      this.reward = 0;
    }
    this.player = mark === 1 ? 2 : 1;
    this.writeObs();
  }

  private writeObs(): void {
    for (let i = 0; i < 9; i++) {
      const cell = this.cells[i];
      this.obs[i] = cell === 1 ? 1 : 0;
      this.obs[9 + i] = cell === 2 ? 1 : 0;
      this.obs[18 + i] = !this.over && cell === 0 ? 1 : 0;
    }
  }
}

/** Plays `steps` random self-play steps, resetting finished games; returns the games finished. */
export function playPlain(game: PlainTicTacToe, rng: XorShift32, steps: number): number {
  let games = 0;
  for (let i = 0; i < steps; i++) {
    if (game.over) {
      game.reset();
      games++;
    }
    const moves = game.legalMoves();
    game.step(moves[rng.below(moves.length)] as number);
  }
  return games;
}
