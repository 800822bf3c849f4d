/**
 * The wall-clock watchdog of one worker: one timer for the worker's life, not one per call.
 * Creating and clearing a timer on every call costs a few microseconds of a unary call's hop;
 * here a call only writes its deadline, and the timer, when it fires early (the deadline moved
 * on since it was armed), sets itself again for the current deadline.
 *
 * Deadlines are on the `performance.now()` clock, in ms.
 */
export class Watchdog {
  private timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires (Infinity when none is armed). */
  private timerAtMs = Number.POSITIVE_INFINITY;
  /** The deadline being watched (Infinity when disarmed), and what its expiry means. */
  private deadlineMs = Number.POSITIVE_INFINITY;
  private reason: (() => Error) | undefined;

  /** `onExpired` gets the error of the deadline that passed; the watchdog is disarmed by then. */
  constructor(private readonly onExpired: (error: Error) => void) {}

  /** Watches `deadlineMs`, replacing the deadline watched before. */
  arm(deadlineMs: number, reason: () => Error): void {
    this.deadlineMs = deadlineMs;
    this.reason = reason;
    // A timer due before the deadline finds it not yet due and sets itself again.
    if (this.timerAtMs <= deadlineMs) return;
    this.schedule(deadlineMs);
  }

  /**
   * Brings the deadline forward to `deadlineMs` (a cancelled call's grace) unless the deadline
   * watched already comes first.
   */
  shorten(deadlineMs: number, reason: () => Error): void {
    if (deadlineMs < this.deadlineMs) this.arm(deadlineMs, reason);
  }

  /** Stops watching; the armed timer stays, finds nothing due, and is not set again. */
  disarm(): void {
    this.deadlineMs = Number.POSITIVE_INFINITY;
    this.reason = undefined;
  }

  /** Clears the timer for good (the worker is gone). */
  stop(): void {
    this.disarm();
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAtMs = Number.POSITIVE_INFINITY;
  }

  private schedule(atMs: number): void {
    clearTimeout(this.timer);
    this.timerAtMs = atMs;
    this.timer = setTimeout(() => this.fire(), Math.max(0, atMs - performance.now()));
    // The worker running the call keeps the process alive, not its watchdog.
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAtMs = Number.POSITIVE_INFINITY;
    const { deadlineMs, reason } = this;
    if (deadlineMs === Number.POSITIVE_INFINITY || reason === undefined) return;
    if (performance.now() < deadlineMs) {
      this.schedule(deadlineMs);
      return;
    }
    this.disarm();
    this.onExpired(reason());
  }
}
