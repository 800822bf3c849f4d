/**
 * The plain TypeScript reference for the runtime benchmark: random self-play tic-tac-toe written
 * the way a careful engineer would write it without a cartridge, so that the benchmark's
 * "x plain TypeScript" ratios compare against a fast baseline rather than a slow one.
 *
 * Per step it does the same work as a cartridge rollout: pick a uniformly random legal move with a
 * seeded generator, play it, check for a win or a draw, fill every player's reward, and write the
 * 27-float observation (X one-hot, O one-hot, legal mask) and the legal-action mask; a finished
 * game is reset. The board is two 9-bit masks, the buffers are typed arrays allocated once, and
 * nothing in the loop allocates.
 */

/** The eight winning lines as 9-bit cell masks (rows, columns, diagonals). */
const LINES = [0x007, 0x038, 0x1c0, 0x049, 0x092, 0x124, 0x111, 0x054] as const;
const FULL = 0x1ff;

/** True when `marks` holds a full line. */
function hasLine(marks: number): boolean {
  for (const line of LINES) if ((marks & line) === line) return true;
  return false;
}

/** Number of set bits in a 9-bit mask. */
function popcount9(bits: number): number {
  let n = bits - ((bits >>> 1) & 0x55555555);
  n = (n & 0x33333333) + ((n >>> 2) & 0x33333333);
  return (((n + (n >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

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

  /** A uniform integer in [0, n) for n < 2^21 (the product stays an exact double). */
  below(n: number): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x;
    return Math.floor((x >>> 0) * n * 2.3283064365386963e-10);
  }
}

/** One game of tic-tac-toe with its observation, reward and legal-mask buffers. */
export class PlainTicTacToe {
  /** X's and O's cells as bitmasks (bit i = cell i, row-major from the top left). */
  x = 0;
  o = 0;
  /** 0 = X to move, 1 = O to move. */
  player = 0;
  over = false;
  /** Reward of the player who just moved. */
  reward = 0;
  /** Reward of each player for the last transition. */
  readonly rewards = new Float32Array(2);
  readonly obs = new Float32Array(27);
  /** 1 for each legal cell; all zero once the game is over. */
  readonly mask = new Uint8Array(9);

  reset(): void {
    this.x = 0;
    this.o = 0;
    this.player = 0;
    this.over = false;
    this.reward = 0;
    this.rewards[0] = 0;
    this.rewards[1] = 0;
    this.write();
  }

  /** The legal cells as a 9-bit mask; zero once the game is over. */
  legalBits(): number {
    return this.over ? 0 : ~(this.x | this.o) & FULL;
  }

  /** Plays `cell` for the player to move; throws on an illegal move. */
  step(cell: number): void {
    const bit = 1 << cell;
    if (this.over || ((this.x | this.o) & bit) !== 0) throw new Error(`illegal move ${cell}`);
    const mover = this.player;
    let marks: number;
    if (mover === 0) {
      marks = this.x | bit;
      this.x = marks;
    } else {
      marks = this.o | bit;
      this.o = marks;
    }
    this.player = mover ^ 1;
    const rewards = this.rewards;
    if (hasLine(marks)) {
      this.over = true;
      this.reward = 1;
      rewards[mover] = 1;
      rewards[mover ^ 1] = -1;
    } else {
      this.over = (this.x | this.o) === FULL;
      this.reward = 0;
      rewards[0] = 0;
      rewards[1] = 0;
    }
    this.write();
  }

  /** Writes the observation and the legal-action mask of the current position. */
  private write(): void {
    const { x, o, obs, mask } = this;
    const legal = this.legalBits();
    for (let i = 0; i < 9; i++) {
      const free = (legal >>> i) & 1;
      obs[i] = (x >>> i) & 1;
      obs[9 + i] = (o >>> i) & 1;
      obs[18 + i] = free;
      mask[i] = free;
    }
  }
}

/** A uniformly random set bit of the non-zero mask `bits`, as its index. */
export function pickBit(bits: number, rng: XorShift32): number {
  let rest = bits;
  // Drop the lowest k set bits; the lowest remaining one is the pick.
  for (let k = rng.below(popcount9(bits)); k > 0; k--) rest &= rest - 1;
  return 31 - Math.clz32(rest & -rest);
}

/** Plays `steps` random self-play steps, resetting finished games; returns the games finished. */
export function playPlain(game: PlainTicTacToe, rng: XorShift32, steps: number): number {
  let games = 0;
  for (let i = 0; i < steps; i++) {
    if (game.over) {
      game.reset();
      games++;
    }
    game.step(pickBit(game.legalBits(), rng));
  }
  return games;
}
