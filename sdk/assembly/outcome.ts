// What one transition produced, as the game reports it to the adapter, which turns it into the
// ABI's info record (docs/abi.md, section 2).

/**
 * The result of a step. The adapter clears it before every call, so a game sets only what
 * happened: the acting player's `reward`, every player's reward, and whether the episode ended.
 * The adapter fills `currentPlayer` (from `currentPlayer(state)`, or -1 once the episode is over).
 */
export class Outcome {
  /** The reward of the player who just acted (single-agent: the reward). */
  reward: f32 = 0;
  /** One reward per player; zero-sum games make them sum to 0. */
  readonly playerRewards: StaticArray<f32>;
  /** The episode ended by the rules of the game (win, draw, crash). */
  terminated: bool = false;
  /** The episode ended only because of the horizon or a time limit. */
  truncated: bool = false;
  /** Who acts next, or -1 once the episode is over. */
  currentPlayer: i32 = 0;

  constructor(readonly players: i32) {
    this.playerRewards = new StaticArray<f32>(players);
  }

  /** Resets every field to "nothing happened". */
  clear(): void {
    this.reward = 0;
    this.terminated = false;
    this.truncated = false;
    this.currentPlayer = 0;
    const players = this.players;
    // Straight-line for one and two players (the common case): no loop fuel on every step.
    if (players <= 2) {
      unchecked((this.playerRewards[0] = 0));
      if (players == 2) unchecked((this.playerRewards[1] = 0));
    } else {
      for (let p = 0; p < players; p++) unchecked((this.playerRewards[p] = 0));
    }
  }

  /**
   * `clear()` for a player count known at compile time (the adapter passes its settings'
   * constant): straight-line stores, no branch on the count.
   */
  // @ts-ignore: decorator
  @inline clearFor(players: i32): void {
    this.reward = 0;
    this.terminated = false;
    this.truncated = false;
    this.currentPlayer = 0;
    const rewards = this.playerRewards;
    // The compiler does not unroll loops: one and two players (the common case) are written out.
    if (players >= 1) unchecked((rewards[0] = 0));
    if (players >= 2) unchecked((rewards[1] = 0));
    if (players > 2) for (let p = 2; p < players; p++) unchecked((rewards[p] = 0));
  }

  /** `hasNaN()` for a player count known at compile time, without branches between the tests. */
  // @ts-ignore: decorator
  @inline hasNaNFor(players: i32): bool {
    const rewards = this.playerRewards;
    // Non-short-circuit `|`: a few float compares cost less than the branches between them.
    let nan = <i32>isNaN(this.reward);
    if (players >= 1) nan |= <i32>isNaN(unchecked(rewards[0]));
    if (players >= 2) nan |= <i32>isNaN(unchecked(rewards[1]));
    if (players > 2) for (let p = 2; p < players; p++) nan |= <i32>isNaN(unchecked(rewards[p]));
    return nan != 0;
  }

  /**
   * True when a reward is NaN. The adapter reports that as INTERNAL: NaN bit patterns are the one
   * thing WebAssembly floats do not make deterministic, so a NaN must never reach the host.
   */
  // @ts-ignore: decorator
  @inline hasNaN(): bool {
    const players = this.players;
    let nan = isNaN(this.reward) || isNaN(unchecked(this.playerRewards[0]));
    if (players == 1) return nan;
    nan = nan || isNaN(unchecked(this.playerRewards[1]));
    if (players == 2) return nan;
    for (let p = 2; p < players; p++) nan = nan || isNaN(unchecked(this.playerRewards[p]));
    return nan;
  }

  /** Sets player `player`'s reward. */
  // @ts-ignore: decorator
  @inline setPlayerReward(player: i32, reward: f32): void {
    this.playerRewards[player] = reward;
  }

  /**
   * Records a two-player zero-sum result: +1 to `winner`, -1 to the other, and `reward` seen
   * from `mover`. Marks the episode terminated.
   */
  win2(winner: i32, mover: i32): void {
    this.terminated = true;
    unchecked((this.playerRewards[winner] = 1));
    unchecked((this.playerRewards[1 - winner] = -1));
    this.reward = winner == mover ? 1 : -1;
  }

  /** Records a draw: every reward 0, episode terminated. */
  draw(): void {
    this.terminated = true;
    this.reward = 0;
  }
}
