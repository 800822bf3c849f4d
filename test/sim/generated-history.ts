import type { KvInput, KvOutput } from "./kv.js";
import type { Operation } from "./linearizability.js";
import { SimRandom } from "./random.js";

type Op = Operation<KvInput, KvOutput>;

/** Shape of a generated history. */
export interface GeneratedHistoryOptions {
  readonly seed: number;
  readonly operations: number;
  readonly clients: number;
  readonly keys: number;
  /** Chance that a client gives up on an operation (its outcome is then unknown). */
  readonly abandonRate: number;
}

interface Pending {
  readonly clientIndex: number;
  readonly input: KvInput;
  readonly call: number;
  /** Output once it took effect. */
  output: KvOutput | undefined;
  applied: boolean;
}

/**
 * A history of a linearizable KV store shaped like the simulator's: sequential clients that
 * abandon some operations, and abandoned requests that may still take effect later (as a
 * message stuck in the network would) until the same client's next request takes effect, after
 * which the dedupe table refuses them. An abandoned operation is recorded with an unknown
 * output, and its window closes when its client's next operation returns (or never, if there is
 * none). Reads with unknown outcomes are left out, as the simulator leaves them out.
 */
export function generateHistory(options: GeneratedHistoryOptions): Op[] {
  const random = new SimRandom(options.seed);
  const keys = Array.from({ length: options.keys }, (_, i) => `k${i}`);
  const values = new Map<string, string | null>();
  const current: (Pending | undefined)[] = Array(options.clients).fill(undefined);
  const ghosts: Pending[][] = Array.from({ length: options.clients }, () => []);
  const abandoned: Op[][] = Array.from({ length: options.clients }, () => []);
  const lastSeen = new Map<string, string | null>();
  const history: Op[] = [];
  let time = 0;
  let issued = 0;
  let serial = 0;

  const takeEffect = (op: Pending): void => {
    const value = values.get(op.input.key) ?? null;
    op.applied = true;
    switch (op.input.op) {
      case "put":
        values.set(op.input.key, op.input.value);
        op.output = { ok: true };
        break;
      case "get":
        op.output = { value };
        break;
      case "cas":
        op.output = { ok: value === op.input.expected };
        if (value === op.input.expected) {
          values.set(op.input.key, op.input.value);
        }
        break;
    }
    // The dedupe table now refuses every older request of this client.
    const stale = ghosts[op.clientIndex];
    if (stale !== undefined && !stale.includes(op)) {
      stale.length = 0;
    }
  };

  while (issued < options.operations || current.some((op) => op !== undefined)) {
    const clientIndex = random.nextInt(options.clients);
    const ghostList = ghosts[clientIndex] as Pending[];
    if (ghostList.length > 0 && random.chance(0.05)) {
      const ghost = ghostList.splice(random.nextInt(ghostList.length), 1)[0] as Pending;
      takeEffect(ghost);
      continue;
    }
    const op = current[clientIndex];
    if (op === undefined) {
      if (issued < options.operations) {
        issued += 1;
        current[clientIndex] = {
          clientIndex,
          input: randomInput(random, keys, `c${clientIndex}.${++serial}`, lastSeen),
          call: ++time,
          output: undefined,
          applied: false,
        };
      }
      continue;
    }
    if (!op.applied && random.chance(0.5)) {
      if (random.chance(options.abandonRate)) {
        // Abandoned before it took effect: it may still do so later, or never.
        current[clientIndex] = undefined;
        ghostList.push(op);
        recordAbandoned(op);
        continue;
      }
      takeEffect(op);
      continue;
    }
    if (op.applied) {
      current[clientIndex] = undefined;
      if (random.chance(options.abandonRate)) {
        recordAbandoned(op); // took effect, but the client never heard
        continue;
      }
      const ret = ++time;
      const output = op.output as KvOutput;
      if ("value" in output) {
        lastSeen.set(op.input.key, output.value);
      } else if (output.ok && op.input.op !== "get") {
        lastSeen.set(op.input.key, op.input.value);
      }
      history.push({ input: op.input, output, call: op.call, ret });
      for (const open of abandoned[clientIndex] as Op[]) {
        history.push({ ...open, ret });
      }
      abandoned[clientIndex] = [];
    }
  }
  for (const list of abandoned) {
    history.push(...list);
  }
  return history;

  function recordAbandoned(op: Pending): void {
    if (op.input.op === "get") {
      return;
    }
    (abandoned[op.clientIndex] as Op[]).push({
      input: op.input,
      output: undefined,
      call: op.call,
      ret: Number.POSITIVE_INFINITY,
    });
  }
}

function randomInput(
  random: SimRandom,
  keys: readonly string[],
  value: string,
  lastSeen: ReadonlyMap<string, string | null>,
): KvInput {
  const key = random.pick(keys);
  const kind = random.nextInt(10);
  if (kind < 4) {
    return { op: "put", key, value };
  }
  if (kind < 7) {
    return { op: "get", key };
  }
  return { op: "cas", key, expected: lastSeen.get(key) ?? null, value };
}

/** The value an operation writes, if it writes one. */
function written(op: Op): string | undefined {
  return op.input.op === "get" ? undefined : op.input.value;
}

/**
 * Turns a history into one that is certainly not linearizable, or returns undefined if it has
 * no suitable operations. `stale`: a read returns a value overwritten, before the read began, by
 * a write that certainly took effect. `future`: a read returns a value written only by an
 * operation invoked after the read returned.
 */
export function mutateHistory(
  history: readonly Op[],
  kind: "stale" | "future",
  random: SimRandom,
): Op[] | undefined {
  const reads = history
    .map((op, index) => ({ op, index }))
    .filter(({ op }) => op.input.op === "get" && op.output !== undefined);
  random.shuffle(reads);
  for (const { op: read, index } of reads) {
    const key = read.input.key;
    const sameKey = history.filter((op) => op.input.key === key && written(op) !== undefined);
    let value: string | undefined;
    if (kind === "future") {
      const later = sameKey.filter((op) => op.call > read.ret);
      value = later.length > 0 ? written(random.pick(later)) : undefined;
    } else {
      // A write that certainly took effect and returned before the read was invoked...
      const overwrites = sameKey.filter(
        (op) => op.ret < read.call && op.output !== undefined && "ok" in op.output && op.output.ok,
      );
      const overwrite = overwrites.length > 0 ? random.pick(overwrites) : undefined;
      // ...and a value written by an operation that returned before that write was invoked.
      const older = overwrite === undefined ? [] : sameKey.filter((op) => op.ret < overwrite.call);
      value = older.length > 0 ? written(random.pick(older)) : undefined;
    }
    if (value !== undefined) {
      const mutated = [...history];
      mutated[index] = { ...read, output: { value } };
      return mutated;
    }
  }
  return undefined;
}
