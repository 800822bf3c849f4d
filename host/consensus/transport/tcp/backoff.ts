import type { Rng } from "../../core/rng.js";

/**
 * Exponential backoff with "equal jitter": attempt n waits between half and all of
 * `min(maxMs, initialMs * 2^n)`. The jitter comes from the injected {@link Rng}, so simulated and
 * tested runs replay; it spreads the redials of nodes that lost a peer at the same moment.
 */
export class Backoff {
  private attempt = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly rng: Rng;

  constructor(initialMs: number, maxMs: number, rng: Rng) {
    if (!(initialMs >= 1 && maxMs >= initialMs)) {
      throw new RangeError("backoff needs 1 <= initialMs <= maxMs");
    }
    this.initialMs = initialMs;
    this.maxMs = maxMs;
    this.rng = rng;
  }

  /** The delay before the next attempt; each call doubles the ceiling up to `maxMs`. */
  nextDelayMs(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    const half = Math.floor(ceiling / 2);
    return ceiling - half + this.rng.nextInt(half + 1);
  }

  /** Back to the initial delay (after a connection was established). */
  reset(): void {
    this.attempt = 0;
  }
}
