import { invariant } from "../core/errors.js";

/** Drives an engine's logical clock. The core never reads time; only tick sources do. */
export interface TickSource {
  /** Calls `onTick` once per tick until `stop()`. */
  start(onTick: () => void): void;
  stop(): void;
}

/** Ticks every `intervalMs` milliseconds of wall-clock time (production and benchmarks). */
export class IntervalTickSource implements TickSource {
  private timer: NodeJS.Timeout | undefined;
  private readonly intervalMs: number;

  constructor(intervalMs: number) {
    invariant(intervalMs >= 1, "tick interval must be at least 1 ms");
    this.intervalMs = intervalMs;
  }

  start(onTick: () => void): void {
    this.stop();
    this.timer = setInterval(onTick, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/** Ticks only when `tick()` is called (tests and the simulator). */
export class ManualTickSource implements TickSource {
  private onTick: (() => void) | undefined;

  start(onTick: () => void): void {
    this.onTick = onTick;
  }

  stop(): void {
    this.onTick = undefined;
  }

  /** Delivers `count` ticks to the running engine, if any. */
  tick(count = 1): void {
    for (let i = 0; i < count; i += 1) {
      this.onTick?.();
    }
  }
}
