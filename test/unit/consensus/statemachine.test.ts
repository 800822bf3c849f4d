import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Entry } from "../../../host/consensus/core/entry.js";
import { ConsensusError } from "../../../host/consensus/core/errors.js";
import type { SessionOptions } from "../../../host/consensus/sessions.js";
import {
  type ApplyContext,
  type BatchedCommand,
  type CommandOutcome,
  ReplicatedStateMachine,
  type StateMachine,
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

/** Applies a slot on a machine known to be synchronous. */
function applySync(rsm: ReplicatedStateMachine, entry: Entry): CommandOutcome[] {
  const outcomes = rsm.applyEntry(entry);
  if (outcomes instanceof Promise) {
    throw new Error("a synchronous machine gave a promise");
  }
  return outcomes;
}

describe("ReplicatedStateMachine", () => {
  it("applies slots in order and ignores a slot applied before", () => {
    const machine = new AppendLog();
    const rsm = new ReplicatedStateMachine(machine);
    applySync(rsm, slot(1, ["a", 1, "x"]));
    expect(applySync(rsm, slot(1, ["a", 1, "x"]))).toEqual([]);
    expect(machine.items).toEqual(["x"]);
    expect(() => rsm.applyEntry(slot(3, ["a", 2, "y"]))).toThrow(ConsensusError);
  });

  it("applies a retried request once and returns the first result", () => {
    const machine = new AppendLog();
    const rsm = new ReplicatedStateMachine(machine);
    applySync(rsm, slot(1, ["a", 1, "x"], ["b", 1, "y"]));
    const [retry] = applySync(rsm, slot(2, ["a", 1, "x"]));
    expect(retry?.duplicate).toBe(true);
    expect(text(retry?.result ?? new Uint8Array())).toBe("1");
    expect(machine.items).toEqual(["x", "y"]);
  });

  it("never deduplicates anonymous commands and keeps no session for them", () => {
    const machine = new AppendLog();
    const rsm = new ReplicatedStateMachine(machine);
    applySync(rsm, slot(1, ["", 1, "x"], ["", 1, "x"], ["\u0000n1:7", 1, "x"]));
    expect(machine.items).toEqual(["x", "x", "x"]);
    expect(rsm.sessionCount()).toBe(0);
  });

  it("carries the session table through a snapshot", () => {
    const rsm = new ReplicatedStateMachine(new AppendLog());
    applySync(rsm, slot(1, ["a", 1, "x"]));
    const restoredMachine = new AppendLog();
    const restored = new ReplicatedStateMachine(restoredMachine);
    restored.restore(rsm.snapshot());
    expect(restored.appliedIndex()).toBe(1);
    const [retry] = applySync(restored, slot(2, ["a", 1, "x"]));
    expect(retry?.duplicate).toBe(true);
    expect(restoredMachine.items).toEqual(["x"]);
  });
});

describe("client sessions", () => {
  it("answers pipelined requests exactly, in any order, within the window", () => {
    const machine = new AppendLog();
    const rsm = new ReplicatedStateMachine(machine, { requestWindow: 4 });
    applySync(rsm, slot(1, ["a", 3, "r3"], ["a", 1, "r1"]));
    applySync(rsm, slot(2, ["a", 2, "r2"], ["a", 4, "r4"]));
    const retries = applySync(rsm, slot(3, ["a", 1, "r1"], ["a", 3, "r3"], ["a", 2, "r2"]));
    expect(retries.map((outcome) => text(outcome.result ?? new Uint8Array()))).toEqual([
      "2",
      "1",
      "3",
    ]);
    expect(machine.items).toEqual(["r3", "r1", "r2", "r4"]);
  });

  it("answers StaleRequest below the window, without applying", () => {
    const machine = new AppendLog();
    const rsm = new ReplicatedStateMachine(machine, { requestWindow: 2 });
    applySync(rsm, slot(1, ["a", 1, "a1"], ["a", 2, "a2"], ["a", 3, "a3"], ["a", 4, "a4"]));
    applySync(rsm, slot(2, ["b", 1, "b1"], ["b", 5, "b5"]));
    const [retry, skipped] = applySync(rsm, slot(3, ["a", 1, "a1"], ["b", 2, "b2"]));
    expect(retry?.error).toBe("StaleRequest");
    expect(skipped?.error).toBe("StaleRequest");
    expect(machine.items).toEqual(["a1", "a2", "a3", "a4", "b1", "b5"]);
  });

  it("expires an idle session by log position and answers SessionExpired, never re-applying", () => {
    const machine = new AppendLog();
    const rsm = new ReplicatedStateMachine(machine, { sessionTimeoutSlots: 3 });
    applySync(rsm, slot(1, ["a", 1, "once"]));
    for (let index = 2; index <= 5; index += 1) {
      applySync(rsm, slot(index, ["b", index, `b${index}`]));
    }
    const [retry] = applySync(rsm, slot(6, ["a", 1, "once"]));
    expect(retry?.error).toBe("SessionExpired");
    expect(retry?.errorMessage).toContain("expired at slot 5");
    const [next] = applySync(rsm, slot(7, ["a", 2, "two"]));
    expect(next?.error).toBe("SessionExpired");
    expect(machine.items.filter((item) => item === "once")).toHaveLength(1);
  });

  it("evicts the least recently active session beyond maxClients, identically everywhere", () => {
    const make = () => new ReplicatedStateMachine(new AppendLog(), { maxClients: 2 });
    const a = make();
    const b = make();
    const entries = [
      slot(1, ["c1", 1, "x"]),
      slot(2, ["c2", 1, "y"]),
      slot(3, ["c1", 2, "z"]),
      slot(4, ["c3", 1, "w"]),
      slot(5, ["c2", 1, "y"], ["c1", 2, "z"]),
    ];
    const outcomes = entries.map((entry) => {
      const fromA = applySync(a, entry);
      expect(applySync(b, entry)).toEqual(fromA);
      return fromA;
    });
    expect(text(a.snapshot())).toBe(text(b.snapshot()));
    expect(a.sessionCount()).toBe(2);
    const last = outcomes.at(-1) ?? [];
    expect(last[0]?.error).toBe("SessionExpired");
    expect(last[1]?.duplicate).toBe(true);
  });

  it("refuses an unknown client whose request id is above the window", () => {
    const rsm = new ReplicatedStateMachine(new AppendLog(), { requestWindow: 8 });
    const [outcome] = applySync(rsm, slot(1, ["new", 9, "x"]));
    expect(outcome?.error).toBe("SessionExpired");
    expect(rsm.sessionCount()).toBe(0);
  });

  it("bounds client ids echoed in error messages", () => {
    const rsm = new ReplicatedStateMachine(new AppendLog());
    const [outcome] = applySync(rsm, slot(1, ["x".repeat(10_000), 99, "x"]));
    expect(outcome?.errorMessage?.length ?? 0).toBeLessThan(200);
  });

  it("rejects session limits that are not positive integers", () => {
    expect(() => new ReplicatedStateMachine(new AppendLog(), { maxClients: 0 })).toThrow(
      ConsensusError,
    );
  });
});

/** A machine whose result is the command itself: an answer names the request it belongs to. */
class EchoMachine implements StateMachine {
  readonly applied: string[] = [];

  apply(command: Uint8Array): Uint8Array | Promise<Uint8Array> {
    return this.record(command);
  }

  record(command: Uint8Array): Uint8Array {
    this.applied.push(text(command));
    return command;
  }

  snapshot(): Uint8Array {
    return bytes(JSON.stringify(this.applied));
  }

  restore(snapshot: Uint8Array): void {
    this.applied.splice(0, this.applied.length, ...(JSON.parse(text(snapshot)) as string[]));
  }
}

/** The same machine answering asynchronously, one command at a time or in batches. */
class AsyncEchoMachine extends EchoMachine {
  override apply(command: Uint8Array): Promise<Uint8Array> {
    return Promise.resolve().then(() => this.record(command));
  }
}

class AsyncBatchEchoMachine extends EchoMachine {
  async applyBatch(commands: readonly BatchedCommand[]): Promise<Uint8Array[]> {
    await Promise.resolve();
    return commands.map((item) => this.record(item.command));
  }
}

type Step =
  | { readonly kind: "new"; readonly client: number; readonly width: number }
  | { readonly kind: "retry"; readonly client: number; readonly back: number }
  | { readonly kind: "idle"; readonly slots: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant("new" as const),
    client: fc.integer({ min: 0, max: 4 }),
    width: fc.integer({ min: 1, max: 3 }),
  }),
  fc.record({
    kind: fc.constant("retry" as const),
    client: fc.integer({ min: 0, max: 4 }),
    back: fc.integer({ min: 0, max: 6 }),
  }),
  fc.record({ kind: fc.constant("idle" as const), slots: fc.integer({ min: 1, max: 4 }) }),
);

/**
 * Drives a random interleaving of new requests (several per slot: pipelining), retries of any
 * earlier request and idle stretches (expiry) through a small table, and checks the two session
 * guarantees: nothing is applied twice, and an answer is always the answer to its own request.
 */
async function checkSessions(
  steps: readonly Step[],
  machine: EchoMachine,
  options: Partial<SessionOptions>,
): Promise<void> {
  const rsm = new ReplicatedStateMachine(machine, options);
  const sent = new Map<number, number>();
  let index = 0;
  for (const item of steps) {
    const commands: [string, number, string][] = [];
    if (item.kind === "new") {
      // Pipelined within the window: this test's clients never get ahead of it.
      const first = (sent.get(item.client) ?? 0) + 1;
      for (let r = first; r < first + item.width; r += 1) {
        commands.push([`c${item.client}`, r, `c${item.client}:${r}`]);
      }
      sent.set(item.client, first + item.width - 1);
    } else if (item.kind === "retry") {
      const last = sent.get(item.client) ?? 0;
      const r = last - item.back;
      if (r >= 1) {
        commands.push([`c${item.client}`, r, `c${item.client}:${r}`]);
      }
    } else {
      for (let i = 0; i < item.slots; i += 1) {
        index += 1;
        await rsm.applyEntry({ index, ballot: 1025, value: { kind: "noop" } });
      }
      continue;
    }
    if (commands.length === 0) {
      continue;
    }
    index += 1;
    const outcomes = await rsm.applyEntry(slot(index, ...commands));
    for (const outcome of outcomes) {
      if (outcome.error === undefined) {
        expect(text(outcome.result ?? new Uint8Array())).toBe(
          `${outcome.clientId}:${outcome.requestId}`,
        );
      }
    }
  }
  expect(new Set(machine.applied).size).toBe(machine.applied.length);
  // The table survives a snapshot: a restored copy answers a retry of everything identically.
  const copy = new ReplicatedStateMachine(new EchoMachine(), options);
  copy.restore(rsm.snapshot());
  expect(text(copy.snapshot())).toBe(text(rsm.snapshot()));
}

describe("client sessions (property)", () => {
  const options = { maxClients: 3, sessionTimeoutSlots: 6, requestWindow: 4 };

  it("never applies a request twice nor answers with another request's result", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 60 }), (steps) =>
        checkSessions(steps, new EchoMachine(), options),
      ),
      { numRuns: 300 },
    );
  });

  it("holds for asynchronous machines, one at a time and batched", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 40 }), fc.boolean(), (steps, batched) =>
        checkSessions(
          steps,
          batched ? new AsyncBatchEchoMachine() : new AsyncEchoMachine(),
          options,
        ),
      ),
      { numRuns: 100 },
    );
  });
});

describe("asynchronous apply", () => {
  it("applies commands strictly in order, one pending call at a time", async () => {
    let pending = 0;
    let maxPending = 0;
    const order: number[] = [];
    const machine: StateMachine = {
      apply: async (_command: Uint8Array, context: ApplyContext) => {
        pending += 1;
        maxPending = Math.max(maxPending, pending);
        await new Promise((resolve) => setImmediate(resolve));
        order.push(context.requestId);
        pending -= 1;
        return bytes(String(context.requestId));
      },
      snapshot: () => new Uint8Array(),
      restore: () => {},
    };
    const rsm = new ReplicatedStateMachine(machine);
    const outcomes = await rsm.applyEntry(slot(1, ["a", 1, "x"], ["b", 1, "y"], ["a", 2, "z"]));
    expect(order).toEqual([1, 1, 2]);
    expect(maxPending).toBe(1);
    expect(outcomes.map((outcome) => text(outcome.result ?? new Uint8Array()))).toEqual([
      "1",
      "1",
      "2",
    ]);
    expect(() => rsm.snapshot()).not.toThrow();
  });

  it("refuses a snapshot or another apply while an apply is pending", async () => {
    const machine = new AsyncEchoMachine();
    const rsm = new ReplicatedStateMachine(machine);
    const first = rsm.applyEntry(slot(1, ["a", 1, "x"]));
    expect(() => rsm.snapshot()).toThrow(ConsensusError);
    expect(() => rsm.applyEntry(slot(2, ["a", 2, "y"]))).toThrow(ConsensusError);
    await first;
    expect(machine.applied).toEqual(["x"]);
  });

  it("passes a rejected apply on to the driver and writes nothing for it", async () => {
    const machine = new EchoMachine();
    const failing: StateMachine = {
      apply: () => Promise.reject(new Error("worker crashed")),
      snapshot: () => machine.snapshot(),
      restore: (data) => machine.restore(data),
    };
    const rsm = new ReplicatedStateMachine(failing);
    await expect(rsm.applyEntry(slot(1, ["a", 1, "x"]))).rejects.toThrow("worker crashed");
    expect(machine.applied).toEqual([]);
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
        const sessions = { maxClients: 2, requestWindow: 2, sessionTimeoutSlots: 4 };
        const one = new ReplicatedStateMachine(plain, sessions);
        const many = new ReplicatedStateMachine(batched, sessions);
        slots.forEach((commands, i) => {
          const entry = slot(
            i + 1,
            ...commands.map(([c, r]): [string, number, string] => [c, r, `${c}${r}`]),
          );
          expect(applySync(many, entry)).toEqual(applySync(one, entry));
        });
        expect(batched.items).toEqual(plain.items);
        expect(text(many.snapshot())).toBe(text(one.snapshot()));
      }),
      { numRuns: 300 },
    );
  });
});
