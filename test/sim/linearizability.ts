/**
 * A linearizability checker in the manner of Porcupine (Athalye) after Wing & Gong and Lowe:
 * the history is split into independent partitions (P-compositionality: operations on different
 * keys of a map commute, so the map is linearizable iff every key is), and each partition is
 * searched depth-first over which pending operation takes effect next, with a cache of the
 * (linearized set, state) configurations already explored so none is explored twice.
 *
 * The search is exponential only in the number of operations open at the same moment; the
 * simulator's workload bounds that (see `checkHistory` in simulator.ts). Steps and cache
 * entries are bounded too: beyond them the answer is `unknown`, never a guess.
 */

/** A sequential specification: `step` returns the next state, or undefined if `output` is impossible. */
export interface Model<State, Input, Output> {
  readonly init: State;
  /** `output` is undefined for an operation whose outcome is unknown (any output is allowed). */
  step(state: State, input: Input, output: Output | undefined): State | undefined;
  /** A string that identifies `state` (for the cache: equal strings mean equal states). */
  stateKey(state: State): string;
  /** Optional: the partition of an operation; operations of different partitions commute. */
  partition?(input: Input): string;
}

/**
 * One operation of a history. Times are unique, increasing event numbers.
 *
 * An operation whose `output` is undefined (timed out, indeterminate) took effect at one point
 * between `call` and `ret`, or never. `ret` is `Number.POSITIVE_INFINITY` when nothing bounds
 * when it may take effect.
 */
export interface Operation<Input, Output> {
  readonly input: Input;
  readonly output: Output | undefined;
  readonly call: number;
  readonly ret: number;
}

/** Bounds of one search (per partition). */
export interface CheckLimits {
  /** Search steps (an operation linearized or undone) before giving up. */
  readonly maxSteps: number;
  /** Configurations cached before giving up (each costs a short string). */
  readonly maxCacheEntries: number;
}

export const DEFAULT_CHECK_LIMITS: CheckLimits = {
  maxSteps: 5_000_000,
  maxCacheEntries: 1_000_000,
};

export type CheckResult =
  | { readonly kind: "linearizable"; readonly steps: number }
  | {
      readonly kind: "violation";
      readonly partition: string;
      /** The most operations of the partition any attempted linearization placed. */
      readonly longestPrefix: number;
      readonly steps: number;
    }
  | { readonly kind: "unknown"; readonly partition: string; readonly steps: number };

/** Checks `history` against `model`, partition by partition. */
export function checkLinearizable<State, Input, Output>(
  model: Model<State, Input, Output>,
  history: readonly Operation<Input, Output>[],
  limits: CheckLimits = DEFAULT_CHECK_LIMITS,
): CheckResult {
  const partitions = new Map<string, Operation<Input, Output>[]>();
  for (const op of history) {
    if (!(op.call < op.ret)) {
      throw new Error(`operation returns (${op.ret}) before it is called (${op.call})`);
    }
    const key = model.partition?.(op.input) ?? "";
    const list = partitions.get(key);
    if (list === undefined) {
      partitions.set(key, [op]);
    } else {
      list.push(op);
    }
  }
  let steps = 0;
  for (const [partition, ops] of partitions) {
    const result = checkPartition(model, ops, limits);
    steps += result.steps;
    if (result.kind === "violation") {
      return { kind: "violation", partition, longestPrefix: result.longestPrefix, steps };
    }
    if (result.kind === "unknown") {
      return { kind: "unknown", partition, steps };
    }
  }
  return { kind: "linearizable", steps };
}

type PartitionResult =
  | { readonly kind: "linearizable"; readonly steps: number }
  | { readonly kind: "violation"; readonly longestPrefix: number; readonly steps: number }
  | { readonly kind: "unknown"; readonly steps: number };

/** One undoable search decision: operation `op` took effect with alternative `alt`. */
interface Frame<State> {
  readonly op: number;
  readonly alt: number;
  readonly forced: boolean;
  readonly previous: State;
  readonly previousHigh: number;
  readonly previousHoles: readonly number[];
}

/**
 * The search over one partition. Events (calls and returns) sit in a doubly linked list in time
 * order; linearizing an operation lifts its call and return out of the list, and the search
 * always restarts from the head, so the candidates are exactly the calls before the first
 * return still in the list. Reaching a return means its operation cannot be placed: undo the
 * last decision and try its next alternative. An operation with an unknown outcome has two
 * alternatives: it took effect, or it never did (the state is unchanged).
 */
function checkPartition<State, Input, Output>(
  model: Model<State, Input, Output>,
  history: readonly Operation<Input, Output>[],
  limits: CheckLimits,
): PartitionResult {
  // Operations in call order: the linearized set is then "every op up to some index, except a
  // few still open", which makes a compact exact cache key.
  const ops = [...history].sort((a, b) => a.call - b.call);
  const n = ops.length;
  // Event nodes: 2i is the call of op i, 2i + 1 its return; node 2n is the head sentinel.
  const head = 2 * n;
  const next = new Int32Array(2 * n + 1);
  const prev = new Int32Array(2 * n + 1);
  const events: number[] = [];
  for (let i = 0; i < n; i += 1) {
    events.push(2 * i, 2 * i + 1);
  }
  const time = (node: number): number => {
    const op = ops[node >> 1] as Operation<Input, Output>;
    return (node & 1) === 0 ? op.call : op.ret;
  };
  // Ties happen only between never-returning operations (both at infinity).
  events.sort((a, b) => time(a) - time(b) || a - b);
  let last = head;
  for (const node of events) {
    next[last] = node;
    prev[node] = last;
    last = node;
  }
  next[last] = -1;
  next[head] = events[0] ?? -1;
  prev[head] = -1;

  const unlinkNode = (node: number): void => {
    const before = prev[node] as number;
    const after = next[node] as number;
    next[before] = after;
    if (after !== -1) {
      prev[after] = before;
    }
  };
  const relinkNode = (node: number): void => {
    const before = prev[node] as number;
    const after = next[node] as number;
    next[before] = node;
    if (after !== -1) {
      prev[after] = node;
    }
  };
  // Lifting removes the call, then the return; undoing re-inserts in reverse order.
  const lift = (op: number): void => {
    unlinkNode(2 * op);
    unlinkNode(2 * op + 1);
  };
  const unlift = (op: number): void => {
    relinkNode(2 * op + 1);
    relinkNode(2 * op);
  };

  const mustPlace = ops.filter((op) => op.ret !== Number.POSITIVE_INFINITY).length;
  // The linearized set, exactly and compactly: every op up to `high` except the `holes`. The
  // holes are ops already invoked but not yet placed, so there are few of them.
  let high = -1;
  let holes: readonly number[] = [];
  let placed = 0; // linearized ops that returned
  const cache = new Set<string>();

  const stack: Frame<State>[] = [];
  let state = model.init;
  let steps = 0;
  let longest = 0;
  let node = next[head] as number;
  let firstAlt = 0;
  while (placed < mustPlace) {
    if (steps >= limits.maxSteps || cache.size >= limits.maxCacheEntries) {
      return { kind: "unknown", steps };
    }
    if (node === -1) {
      // Unreachable: the list holds a return for every unplaced op that must be placed.
      throw new Error("linearizability search ran off its event list");
    }
    const opIndex = node >> 1;
    if ((node & 1) === 1) {
      // A return whose call is still pending: nothing placed so far can be extended. Undo the
      // last decision, and the one before while the undone one was forced.
      let frame: Frame<State> | undefined;
      do {
        frame = stack.pop();
        if (frame === undefined) {
          return { kind: "violation", longestPrefix: longest, steps };
        }
        steps += 1;
        unlift(frame.op);
        if (ops[frame.op]?.ret !== Number.POSITIVE_INFINITY) {
          placed -= 1;
        }
        high = frame.previousHigh;
        holes = frame.previousHoles;
        state = frame.previous;
      } while (frame.forced);
      node = 2 * frame.op;
      firstAlt = frame.alt + 1;
      continue;
    }
    const op = ops[opIndex] as Operation<Input, Output>;
    let moved = false;
    let nextHigh = high;
    let nextHoles = holes;
    for (let alt = firstAlt; alt < 2 && !moved; alt += 1) {
      let candidate: State | undefined;
      if (alt === 0) {
        candidate = model.step(state, op.input, op.output);
      } else if (op.output === undefined && op.ret !== Number.POSITIVE_INFINITY) {
        // "Never took effect". Needless for a never-returning op: it may simply stay pending.
        candidate = state;
      }
      if (candidate === undefined) {
        continue;
      }
      if (nextHoles === holes) {
        if (opIndex > high) {
          const added: number[] = [];
          for (let i = high + 1; i < opIndex; i += 1) {
            added.push(i);
          }
          nextHoles = added.length === 0 ? holes : [...holes, ...added];
          nextHigh = opIndex;
        } else {
          nextHoles = holes.filter((i) => i !== opIndex);
        }
      }
      const key = `${nextHigh}|${nextHoles.join(",")}|${model.stateKey(candidate)}`;
      if (cache.has(key)) {
        continue;
      }
      cache.add(key);
      steps += 1;
      stack.push({
        op: opIndex,
        alt,
        // An op with a known output that leaves the state as it was (a read, a failed
        // compare-and-set) is best placed as early as possible: any completion that places it
        // later stays valid with it moved here. So if placing it now fails, so does every other
        // choice at this point, and undoing it undoes the decision before it too.
        forced:
          alt === 0 &&
          op.output !== undefined &&
          model.stateKey(candidate) === model.stateKey(state),
        previous: state,
        previousHigh: high,
        previousHoles: holes,
      });
      longest = Math.max(longest, stack.length);
      state = candidate;
      high = nextHigh;
      holes = nextHoles;
      if (op.ret !== Number.POSITIVE_INFINITY) {
        placed += 1;
      }
      lift(opIndex);
      moved = true;
    }
    firstAlt = 0;
    node = moved ? (next[head] as number) : (next[node] as number);
  }
  return { kind: "linearizable", steps };
}
