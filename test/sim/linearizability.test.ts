import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type KvInput, type KvOutput, registerModel } from "./kv.js";
import { checkLinearizable, type Operation } from "./linearizability.js";

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

  it("reports unknown instead of searching without bound", () => {
    const ops: Op[] = [];
    for (let i = 0; i < 40; i += 1) {
      ops.push(put(`v${i}`, i + 1, NEVER));
    }
    ops.push(get("nope", 100, 101));
    expect(checkLinearizable(registerModel, ops, 1000).kind).toBe("unknown");
  });
});
