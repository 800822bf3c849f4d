import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Entry } from "../../../host/consensus/core/entry.js";
import { ConsensusError } from "../../../host/consensus/core/errors.js";
import { SlotLog } from "../../../host/consensus/core/log.js";

const entry = (index: number, ballot = 1): Entry => ({ index, ballot, value: { kind: "noop" } });

describe("SlotLog", () => {
  it("replaces a slot without truncating the slots after it", () => {
    const log = new SlotLog(0, [entry(1), entry(2), entry(3)]);
    log.put(entry(2, 9));
    expect(log.lastIndex).toBe(3);
    expect(log.get(2)?.ballot).toBe(9);
    expect(log.get(3)?.ballot).toBe(1);
  });

  it("refuses holes and compacted slots", () => {
    const log = new SlotLog(5, [entry(6)]);
    expect(() => log.put(entry(8))).toThrow(ConsensusError);
    expect(() => log.put(entry(5))).toThrow(ConsensusError);
    expect(log.get(5)).toBeUndefined();
  });

  it("bounds slices by range and count", () => {
    const log = new SlotLog(
      0,
      [1, 2, 3, 4, 5].map((i) => entry(i)),
    );
    expect(log.slice(2, 4, 10).map((e) => e.index)).toEqual([2, 3, 4]);
    expect(log.slice(2, 5, 2).map((e) => e.index)).toEqual([2, 3]);
    expect(log.slice(6, 9, 10)).toEqual([]);
  });

  it("compacts through an index, even past its end", () => {
    const log = new SlotLog(
      0,
      [1, 2, 3].map((i) => entry(i)),
    );
    log.compactThrough(2);
    expect(log.firstIndex).toBe(3);
    expect(log.get(3)?.index).toBe(3);
    log.compactThrough(10);
    expect(log.lastIndex).toBe(10);
    log.put(entry(11));
    expect(log.get(11)?.index).toBe(11);
  });

  it("behaves like a plain array of slots (property)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant("put" as const), at: fc.nat(30), ballot: fc.nat(9) }),
            fc.record({ kind: fc.constant("compact" as const), at: fc.nat(30) }),
          ),
          { maxLength: 60 },
        ),
        (ops) => {
          const log = new SlotLog(0, []);
          const model = new Map<number, number>();
          let compacted = 0;
          for (const op of ops) {
            if (op.kind === "put") {
              const index = compacted + 1 + (op.at % (log.lastIndex - compacted + 1));
              log.put(entry(index, op.ballot));
              model.set(index, op.ballot);
            } else if (op.at <= log.lastIndex) {
              log.compactThrough(op.at);
              compacted = Math.max(compacted, op.at);
            }
          }
          for (let index = compacted + 1; index <= log.lastIndex; index += 1) {
            expect(log.get(index)?.ballot).toBe(model.get(index));
          }
        },
      ),
    );
  });
});
