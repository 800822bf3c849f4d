import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { closeWindows, type HistoryOp } from "./clients.js";
import { generateHistory, mutateHistory } from "./generated-history.js";
import { type KvInput, type KvOutput, registerModel } from "./kv.js";
import { checkLinearizable, type Operation } from "./linearizability.js";
import { SimRandom } from "./random.js";

type Op = Operation<KvInput, KvOutput>;
const NEVER = Number.POSITIVE_INFINITY;

const put = (value: string, call: number, ret: number): Op => ({
  input: { op: "put", key: "k", value },
  output: ret === NEVER ? undefined : { ok: true },
  call,
  ret,
});
const get = (value: string | null, call: number, ret: number): Op => ({
  input: { op: "get", key: "k" },
  output: { value },
  call,
  ret,
});
const cas = (
  expected: string | null,
  value: string,
  ok: boolean | undefined,
  call: number,
  ret: number,
): Op => ({
  input: { op: "cas", key: "k", expected, value },
  output: ok === undefined ? undefined : { ok },
  call,
  ret,
});

const check = (ops: Op[]) => checkLinearizable(registerModel, ops).kind;

describe("linearizability checker (register with put/get/cas)", () => {
  it("accepts a sequential history", () => {
    expect(check([put("a", 1, 2), get("a", 3, 4), cas("a", "b", true, 5, 6), get("b", 7, 8)])).toBe(
      "linearizable",
    );
  });

  it("rejects a stale read after a completed write", () => {
    expect(check([put("a", 1, 2), put("b", 3, 4), get("a", 5, 6)])).toBe("violation");
  });

  it("rejects reading a value never written", () => {
    expect(check([get("z", 1, 2)])).toBe("violation");
  });

  it("accepts a read concurrent with a write returning either value", () => {
    expect(check([put("a", 1, 2), put("b", 3, 6), get("a", 4, 5)])).toBe("linearizable");
    expect(check([put("a", 1, 2), put("b", 3, 6), get("b", 4, 5)])).toBe("linearizable");
  });

  it("rejects two reads that see a write disappear (new then old)", () => {
    expect(check([put("a", 1, 2), put("b", 3, 10), get("b", 4, 5), get("a", 6, 7)])).toBe(
      "violation",
    );
  });

  it("rejects two successful compare-and-sets from the same expected value", () => {
    expect(check([put("a", 1, 2), cas("a", "b", true, 3, 6), cas("a", "c", true, 4, 7)])).toBe(
      "violation",
    );
  });

  it("accepts one of two concurrent compare-and-sets winning", () => {
    expect(
      check([
        put("a", 1, 2),
        cas("a", "b", true, 3, 6),
        cas("a", "c", false, 4, 7),
        get("b", 8, 9),
      ]),
    ).toBe("linearizable");
  });

  it("lets an indeterminate write take effect late or never", () => {
    // Took effect after a later read:
    expect(check([put("a", 1, NEVER), get(null, 2, 3), get("a", 4, 5)])).toBe("linearizable");
    // Never took effect:
    expect(check([put("a", 1, NEVER), get(null, 2, 3), get(null, 4, 5)])).toBe("linearizable");
    // But cannot take effect before it was invoked:
    expect(check([get("a", 1, 2), put("a", 3, NEVER)])).toBe("violation");
  });

  it("treats an indeterminate compare-and-set as applying only if it matched", () => {
    expect(check([put("a", 1, 2), cas("x", "b", undefined, 3, NEVER), get("b", 4, 5)])).toBe(
      "violation",
    );
    expect(check([put("a", 1, 2), cas("a", "b", undefined, 3, NEVER), get("b", 4, 5)])).toBe(
      "linearizable",
    );
  });

  it("accepts every history produced by a sequential register (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("put", "get", "cas"), fc.constantFrom("a", "b", "c")), {
          maxLength: 30,
        }),
        (steps) => {
          let state: string | null = null;
          let time = 0;
          const ops: Op[] = [];
          for (const [kind, value] of steps) {
            const call = ++time;
            const ret = ++time;
            if (kind === "put") {
              state = value;
              ops.push(put(value, call, ret));
            } else if (kind === "get") {
              ops.push(get(state, call, ret));
            } else {
              const ok = state === "a";
              if (ok) {
                state = value;
              }
              ops.push(cas("a", value, ok, call, ret));
            }
          }
          expect(check(ops)).toBe("linearizable");
        },
      ),
      { numRuns: 200 },
    );
  });

  it("rejects a sequential history after one read is corrupted (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom("a", "b", "c"), { minLength: 2, maxLength: 20 }),
        (values) => {
          let time = 0;
          const ops: Op[] = [];
          for (const value of values) {
            ops.push(put(value, ++time, ++time));
            ops.push(get(value, ++time, ++time));
          }
          // Corrupt the last read to a value that is not the latest write.
          ops.pop();
          ops.push(get("z", ++time, ++time));
          expect(check(ops)).toBe("violation");
        },
      ),
      { numRuns: 100 },
    );
  });

  it("lets a write with an unknown outcome that returned take effect before it returned, or never", () => {
    const lost = (value: string, call: number, ret: number): Op => ({
      input: { op: "put", key: "k", value },
      output: undefined,
      call,
      ret,
    });
    expect(check([lost("a", 1, 4), get("a", 2, 3), get("a", 5, 6)])).toBe("linearizable");
    expect(check([lost("a", 1, 2), get(null, 3, 4)])).toBe("linearizable");
    // Once it had taken effect (a read saw it), it cannot be undone.
    expect(check([lost("a", 1, 4), get("a", 2, 3), get(null, 5, 6)])).toBe("violation");
    // And it cannot take effect after it returned.
    expect(check([lost("a", 1, 2), get(null, 3, 4), get("a", 5, 6)])).toBe("violation");
  });

  it("checks keys independently and names the key of a violation", () => {
    const other: Op = {
      input: { op: "put", key: "j", value: "x" },
      output: { ok: true },
      call: 7,
      ret: 8,
    };
    const result = checkLinearizable(registerModel, [
      other,
      put("a", 1, 2),
      put("b", 3, 4),
      get("a", 5, 6),
    ]);
    expect(result).toMatchObject({ kind: "violation", partition: "k" });
  });

  it("reports unknown instead of searching without bound", () => {
    const ops: Op[] = [];
    for (let i = 0; i < 40; i += 1) {
      ops.push(put(`v${i}`, i + 1, NEVER));
    }
    ops.push(get("nope", 100, 101));
    const limits = { maxSteps: 1000, maxCacheEntries: 1_000_000 };
    expect(checkLinearizable(registerModel, ops, limits).kind).toBe("unknown");
  });

  it("refutes 12 never-returning writes and an impossible read without giving up", () => {
    // Every subset of the writes is a configuration to refute: 4096 of them. The simulator's
    // workload keeps never-returning operations this few (see checkHistory in simulator.ts).
    const ops: Op[] = [];
    for (let i = 0; i < 12; i += 1) {
      ops.push(put(`v${i}`, i + 1, NEVER));
    }
    ops.push(get("nope", 100, 101));
    expect(check(ops)).toBe("violation");
  });
});

describe("linearizability checker on large generated histories", () => {
  // Histories shaped like the simulator's but far larger: 10,000 operations, 10-20% of them
  // abandoned with unknown outcomes (the simulator abandons about 6%), 4 to 16 clients.
  const shapes = [
    { seed: 1, operations: 10_000, clients: 8, keys: 3, abandonRate: 0.2 },
    { seed: 2, operations: 10_000, clients: 4, keys: 1, abandonRate: 0.1 },
    { seed: 3, operations: 10_000, clients: 16, keys: 4, abandonRate: 0.1 },
  ];

  it.each(shapes)(
    "accepts a linearizable history (seed $seed, $clients clients, $keys keys)",
    (shape) => {
      const history = generateHistory(shape);
      expect(history.length).toBeGreaterThan(shape.operations * 0.6);
      expect(history.filter((op) => op.output === undefined).length).toBeGreaterThan(
        shape.operations * shape.abandonRate * 0.3,
      );
      expect(checkLinearizable(registerModel, history).kind).toBe("linearizable");
    },
  );

  it.each(shapes)("refutes a stale read and a read from the future (seed $seed)", (shape) => {
    const history = generateHistory(shape);
    const random = new SimRandom(shape.seed);
    for (const kind of ["stale", "future"] as const) {
      const mutated = mutateHistory(history, kind, random);
      expect(mutated, `no ${kind} mutation possible`).toBeDefined();
      expect(checkLinearizable(registerModel, mutated ?? []).kind, kind).toBe("violation");
    }
  });
});

describe("closeWindows (when an abandoned request may take effect)", () => {
  const op = (requestId: number, call: number, ret: number, done: boolean): HistoryOp => ({
    clientId: "c",
    requestId,
    input: { op: "put", key: "k", value: `c.${requestId}` },
    output: done ? { ok: true } : undefined,
    call,
    ret,
  });

  it("closes an abandoned request at the earliest return of a request a window above it", () => {
    // Window 4. Request 1 is abandoned; 2 and 3 (pipelined, inside its window) do not bound it;
    // 5 and 6 do, and 6 returned first.
    const history = [
      op(1, 1, NEVER, false),
      op(2, 2, 3, true),
      op(3, 4, 20, true),
      op(5, 5, 30, true),
      op(6, 6, 25, true),
    ];
    const closed = closeWindows(history, 4);
    expect(closed.find((o) => o.requestId === 1)?.ret).toBe(25);
    expect(closed.filter((o) => o.output !== undefined)).toEqual(history.slice(1));
  });

  it("leaves a request open when nothing a window above it completed", () => {
    const closed = closeWindows([op(1, 1, NEVER, false), op(4, 2, 3, true)], 4);
    expect(closed.find((o) => o.requestId === 1)?.ret).toBe(NEVER);
  });

  it("keeps a bound the client already set (its session expired) when it is earlier", () => {
    const closed = closeWindows([op(1, 1, 9, false), op(5, 2, 40, true)], 4);
    expect(closed.find((o) => o.requestId === 1)?.ret).toBe(9);
  });
});
