import { CallError } from "./errors.js";

/**
 * Which step of an episode trapped. A rollout runs inside the cartridge, so the host sees only
 * that the whole call trapped; but an episode is a function of its seed, and one with a cap of `k`
 * steps plays exactly the first `k` steps of one with a larger cap. So the smallest cap that still
 * traps is one past the step that trapped, and bisecting the cap finds it in at most
 * `ceil(log2(stepCap))` re-runs: deterministic, and bounded like the call itself (each re-run has
 * the original call's budget, so a prefix never runs out where the whole did not).
 */

/**
 * The smallest cap in [1, `stepCap`] for which `traps` holds, given that it holds for `stepCap`
 * (bisection: if `traps` is not monotonic, some cap where it holds and the one below does not).
 */
export function firstTrappingCap(stepCap: number, traps: (cap: number) => boolean): number {
  let passes = 0; // a cap known not to trap (no steps at all)
  let fails = stepCap; // a cap known to trap
  while (fails - passes > 1) {
    const mid = passes + Math.floor((fails - passes) / 2);
    if (traps(mid)) fails = mid;
    else passes = mid;
  }
  return fails;
}

/**
 * How much fuel the re-runs of one trap may use together, in budgets of the call that trapped:
 * a trap late in a long episode would otherwise cost up to log2(stepCap) whole calls (20 for the
 * largest cap) on the worker that found it. Past it the step is left out of the report.
 */
export const TRAP_STEP_FUEL_BUDGETS = 8;

/** One re-run: whether it trapped and the fuel it used. */
export interface Probe {
  readonly trapped: boolean;
  readonly fuel: number;
}

/**
 * `firstTrappingCap` with the re-runs' fuel counted: undefined once they have used more than
 * `allowance` units together (each re-run is itself bounded by its budget).
 */
export function firstTrappingCapWithin(
  stepCap: number,
  allowance: number,
  probe: (cap: number) => Probe,
): number | undefined {
  let spent = 0;
  let over = false;
  const cap = firstTrappingCap(stepCap, (k) => {
    if (over || spent > allowance) {
      over = true;
      return true;
    }
    const outcome = probe(k);
    spent += outcome.fuel;
    return outcome.trapped;
  });
  return over ? undefined : cap;
}

/** How a re-run ended: returned, trapped (a `Trap` with a report), or failed otherwise. */
export function outcomeOf(run: () => unknown): "returned" | "trapped" | "failed" {
  try {
    run();
    return "returned";
  } catch (error) {
    const trapped = error instanceof CallError && error.code === "Trap" && error.trap !== undefined;
    return trapped ? "trapped" : "failed";
  }
}
