/**
 * A Wing & Gong style linearizability checker with memoisation (the approach of Lowe's and of
 * Porcupine): depth-first search over which operation takes effect next, pruning states already
 * shown to fail. Histories are checked per key, since operations on different keys commute.
 */

/** A sequential specification: `step` returns the next state, or undefined if `output` is impossible. */
export interface Model<State, Input, Output> {
  readonly init: State;
  /** `output` is undefined for an operation whose outcome is unknown (any output is allowed). */
  step(state: State, input: Input, output: Output | undefined): State | undefined;
  /** A string that identifies `state` (for memoisation). */
  stateKey(state: State): string;
}

/** One operation of a history. Times are unique, increasing event numbers. */
export interface Operation<Input, Output> {
  readonly input: Input;
  /** Undefined when the outcome is unknown (timed out, indeterminate). */
  readonly output: Output | undefined;
  readonly call: number;
  /** `Number.POSITIVE_INFINITY` when the operation never returned. */
  readonly ret: number;
}

export type CheckResult =
  | { readonly kind: "linearizable" }
  | { readonly kind: "violation"; readonly longestPrefix: number }
  | { readonly kind: "unknown"; readonly steps: number };

/** Checks one history (of one key) against `model`, giving up after `maxSteps` search steps. */
export function checkLinearizable<State, Input, Output>(
  model: Model<State, Input, Output>,
  history: readonly Operation<Input, Output>[],
  maxSteps = 2_000_000,
): CheckResult {
  const ops = [...history].sort((a, b) => a.call - b.call);
  for (const op of ops) {
    if (!(op.call < op.ret)) {
      throw new Error(`operation returns (${op.ret}) before it is called (${op.call})`);
    }
  }
  const completed = ops.filter((op) => op.ret !== Number.POSITIVE_INFINITY).length;
  const failed = new Set<string>();
  let steps = 0;
  let longest = 0;
  let exhausted = false;

  const search = (mask: bigint, state: State, done: number, depth: number): boolean => {
    if (done === completed) {
      return true;
    }
    if (steps >= maxSteps) {
      exhausted = true;
      return false;
    }
    steps += 1;
    longest = Math.max(longest, depth);
    const memoKey = `${mask.toString(36)}|${model.stateKey(state)}`;
    if (failed.has(memoKey)) {
      return false;
    }
    // An operation may take effect next only if no pending operation returned before it began.
    let minRet = Number.POSITIVE_INFINITY;
    for (let i = 0; i < ops.length; i += 1) {
      const op = ops[i];
      if (op !== undefined && (mask & (1n << BigInt(i))) === 0n && op.ret < minRet) {
        minRet = op.ret;
      }
    }
    for (let i = 0; i < ops.length; i += 1) {
      const op = ops[i];
      if (op === undefined || op.call >= minRet) {
        break;
      }
      const bit = 1n << BigInt(i);
      if ((mask & bit) !== 0n) {
        continue;
      }
      const next = model.step(state, op.input, op.output);
      if (next === undefined) {
        continue;
      }
      const finished = op.ret === Number.POSITIVE_INFINITY ? done : done + 1;
      if (search(mask | bit, next, finished, depth + 1)) {
        return true;
      }
      if (exhausted) {
        return false;
      }
    }
    failed.add(memoKey);
    return false;
  };

  if (search(0n, model.init, 0, 0)) {
    return { kind: "linearizable" };
  }
  if (exhausted) {
    return { kind: "unknown", steps };
  }
  return { kind: "violation", longestPrefix: longest };
}
