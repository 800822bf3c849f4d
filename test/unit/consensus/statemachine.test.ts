import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Entry } from "../../../host/consensus/core/entry.js";
import { ConsensusError } from "../../../host/consensus/core/errors.js";
import {
  type BatchedCommand,
  ReplicatedStateMachine,
} from "../../../host/consensus/statemachine.js";
import { AppendLog, bytes, text } from "./helpers.js";

const slot = (index: number, ...commands: [string, number, string][]): Entry => ({
  index,
  ballot: 1025,
  value: {
    kind: "batch",
    commands: commands.map(([clientId, requestId, payload]) => ({
      clientId,
      requestId,
      payload: bytes(payload),
    })),
  },
});

describe("ReplicatedStateMachine", () => {
  it("applies slots in order and ignores a slot applied before", () => {
    const machine = new AppendLog();
    const rsm = new ReplicatedStateMachine(machine);
    rsm.applyEntry(slot(1, ["a", 1, "x"]));
    expect(rsm.applyEntry(slot(1, ["a", 1, "x"]))).toEqual([]);
    expect(machine.items).toEqual(["x"]);
    expect(() => rsm.applyEntry(slot(3, ["a", 2, "y"]))).toThrow(ConsensusError);
  });

  it("applies a retried request once and returns the first result", () => {
    const machine = new AppendLog();
    const rsm = new ReplicatedStateMachine(machine);
    rsm.applyEntry(slot(1, ["a", 1, "x"], ["b", 1, "y"]));
    const [retry] = rsm.applyEntry(slot(2, ["a", 1, "x"]));
    expect(retry?.duplicate).toBe(true);
    expect(text(retry?.result ?? new Uint8Array())).toBe("1");
    const [stale] = rsm.applyEntry(slot(3, ["a", 2, "z"], ["a", 1, "x"])).slice(1);
    expect(stale?.error).toBe("StaleRequest");
    expect(machine.items).toEqual(["x", "y", "z"]);
  });

  it("never deduplicates anonymous commands", () => {
    const machine = new AppendLog();
    const rsm = new ReplicatedStateMachine(machine);
    rsm.applyEntry(slot(1, ["", 1, "x"], ["", 1, "x"]));
    expect(machine.items).toEqual(["x", "x"]);
  });

  it("carries the dedupe table through a snapshot", () => {
    const rsm = new ReplicatedStateMachine(new AppendLog());
    rsm.applyEntry(slot(1, ["a", 1, "x"]));
    const restoredMachine = new AppendLog();
    const restored = new ReplicatedStateMachine(restoredMachine);
    restored.restore(rsm.snapshot());
    expect(restored.appliedIndex()).toBe(1);
    const [retry] = restored.applyEntry(slot(2, ["a", 1, "x"]));
    expect(retry?.duplicate).toBe(true);
    expect(restoredMachine.items).toEqual(["x"]);
  });

  it("evicts the least recently applied clients identically on every replica", () => {
    const make = () => new ReplicatedStateMachine(new AppendLog(), { maxClients: 8 });
    const a = make();
    const b = make();
    for (let i = 1; i <= 20; i += 1) {
      const entry = slot(i, [`client-${i % 11}`, i, `v${i}`]);
      a.applyEntry(entry);
      b.applyEntry(entry);
    }
    expect(text(a.snapshot())).toBe(text(b.snapshot()));
    const clients = (JSON.parse(text(a.snapshot())) as { clients: unknown[] }).clients;
    expect(clients.length).toBeLessThanOrEqual(8);
  });
});

/** The same machine, but taking the batch path; counts how it was called. */
class BatchAppendLog extends AppendLog {
  batchCalls = 0;

  applyBatch(commands: readonly BatchedCommand[]): Uint8Array[] {
    this.batchCalls += 1;
    return commands.map((item) => this.apply(item.command));
  }
}

describe("ReplicatedStateMachine batch path", () => {
  it("gives the same outcomes and state as applying one command at a time (property)", () => {
    const command = fc.tuple(fc.constantFrom("", "a", "b", "c"), fc.integer({ min: 1, max: 6 }));
    fc.assert(
      fc.property(fc.array(fc.array(command, { maxLength: 6 }), { maxLength: 12 }), (slots) => {
        const plain = new AppendLog();
        const batched = new BatchAppendLog();
        const one = new ReplicatedStateMachine(plain);
        const many = new ReplicatedStateMachine(batched);
        slots.forEach((commands, i) => {
          const entry = slot(
            i + 1,
            ...commands.map(([c, r]): [string, number, string] => [c, r, `${c}${r}`]),
          );
          expect(many.applyEntry(entry)).toEqual(one.applyEntry(entry));
        });
        expect(batched.items).toEqual(plain.items);
        expect(text(many.snapshot())).toBe(text(one.snapshot()));
      }),
      { numRuns: 300 },
    );
  });
});
