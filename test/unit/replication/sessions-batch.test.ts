import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ConsoleStateMachine } from "../../../host/replication/console-state-machine.js";
import { encodeKvCommand } from "../../../host/replication/kv/kv-commands.js";
import {
  encodeSessionCommand,
  type SessionCommand,
} from "../../../host/replication/sessions/session-commands.js";
import type { Engine } from "../../../host/runtime/engine.js";
import type { InlineEngine } from "../../../host/runtime/inline-engine.js";
import { consoleWith, counterRuntime, u32 } from "./session-helpers.js";

/**
 * An engine that finishes each guest call after a pseudo-random number of event-loop turns, so
 * the concurrent steps of a slot complete in scrambled orders.
 */
function scrambled(engine: InlineEngine, seed: number): InlineEngine {
  let state = seed >>> 0 || 1;
  const turns = async (): Promise<void> => {
    state = (state * 1103515245 + 12345) >>> 0;
    for (let i = 0; i < state % 4; i += 1) await new Promise((resolve) => setImmediate(resolve));
  };
  const wrapped: Engine = Object.create(engine) as Engine;
  wrapped.step = async (...args) => {
    await turns();
    return engine.step(...args);
  };
  wrapped.stepEach = async (...args) => {
    await turns();
    return engine.stepEach(...args);
  };
  wrapped.reset = async (...args) => {
    await turns();
    return engine.reset(...args);
  };
  return wrapped as InlineEngine;
}

const LIMITS = {
  maxSessions: 5,
  maxSessionsPerClient: 3,
  maxStepsPerSession: 5,
  idleExpirySlots: 6,
  idleExpiryMs: 20,
  // About four counter sessions with a few steps each: the byte budget bites within a slot.
  maxTotalBytes: 300,
};

type Item = { kind: "kv"; key: string } | { kind: "session"; command: SessionCommand };

/** Session ids likely to exist: the first creates of the first slots. */
const sessionId = fc
  .tuple(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 1 }))
  .map(([index, ordinal]) => `s${index}.${ordinal}`);

const item: fc.Arbitrary<Item> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("kv" as const), key: fc.constantFrom("a", "b") }),
  },
  {
    weight: 3,
    arbitrary: fc.tuple(fc.bigInt({ min: 0n, max: 9n }), fc.integer({ min: 0, max: 30 })).map(
      ([seed, stampMs]): Item => ({
        kind: "session",
        command: {
          op: "create",
          envId: "counter-v1",
          buildId: "",
          seed,
          hint: new Uint8Array(),
          stampMs,
        },
      }),
    ),
  },
  {
    weight: 8,
    arbitrary: fc
      .tuple(
        sessionId,
        fc.integer({ min: 0, max: 3 }),
        fc.constantFrom(0, 1, 2, 3, 7),
        fc.integer({ min: 0, max: 30 }),
      )
      .map(
        ([id, expectedStep, action, stampMs]): Item => ({
          kind: "session",
          command: { op: "step", sessionId: id, expectedStep, action: u32(action), stampMs },
        }),
      ),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(sessionId, fc.integer({ min: 0, max: 30 })).map(
      ([id, stampMs]): Item => ({
        kind: "session",
        command: { op: "close", sessionId: id, stampMs },
      }),
    ),
  },
);

/** Commands cut into slots of 1 to 6 commands; stamps grow by slot (a leader's clock). */
const history = fc.array(fc.array(item, { minLength: 1, maxLength: 6 }), {
  minLength: 1,
  maxLength: 14,
});

function encode(item: Item, slot: number): Uint8Array {
  if (item.kind === "kv") {
    return encodeKvCommand({ op: "put", key: item.key, value: u32(slot) });
  }
  return encodeSessionCommand({ ...item.command, stampMs: item.command.stampMs + slot * 10 });
}

const clients = ["a", "b", "c"];

function batchOf(slot: readonly Item[], index: number) {
  return slot.map((entry, i) => ({
    command: encode(entry, index),
    context: { index, clientId: clients[i % clients.length] ?? "a", requestId: index * 10 + i },
  }));
}

describe("applyBatch of the console state machine", () => {
  it("gives the results and state of applying each command in order", async () => {
    const { engine } = await counterRuntime();
    await fc.assert(
      fc.asyncProperty(
        history,
        fc.integer(),
        fc.array(fc.boolean(), { maxLength: 14 }),
        fc.boolean(),
        async (slots, seed, restores, coalesceSteps) => {
          const one = consoleWith(engine, LIMITS, { coalesceSteps: false }).machine;
          let batched: ConsoleStateMachine = consoleWith(scrambled(engine, seed), LIMITS, {
            coalesceSteps,
          }).machine;
          for (const [i, slot] of slots.entries()) {
            const index = i + 1;
            const batch = batchOf(slot, index);
            const expected: Uint8Array[] = [];
            for (const { command, context } of batch)
              expected.push(await one.apply(command, context));
            const actual = await batched.applyBatch(batch);
            expect(actual).toEqual(expected);
            if (restores[i] === true) {
              // A replica restored from a snapshot here continues identically.
              const restored = consoleWith(scrambled(engine, seed + index), LIMITS, {
                coalesceSteps,
              }).machine;
              restored.restore(batched.snapshot());
              batched = restored;
            }
          }
          expect(batched.snapshot()).toEqual(one.snapshot());
        },
      ),
      { numRuns: 60, seed: 9 },
    );
  });

  it("overlaps the guest calls of different sessions", async () => {
    const { engine } = await counterRuntime();
    let running = 0;
    let most = 0;
    const slow: Engine = Object.create(engine) as Engine;
    slow.step = async (...args) => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((resolve) => setImmediate(resolve));
      running -= 1;
      return engine.step(...args);
    };
    const { machine, sessions } = consoleWith(slow as InlineEngine, {}, { coalesceSteps: false });
    await machine.applyBatch(
      batchOf(
        [0, 1, 2].map(() => createItem()),
        1,
      ),
    );
    const steps = batchOf(
      ["s1.0", "s1.1", "s1.2", "s1.0"].map((id, i) => stepItem(id, i === 3 ? 1 : 0)),
      2,
    );
    await machine.applyBatch(steps);
    expect(most).toBe(3);
    expect(sessions.get("s1.0")?.step).toBe(2);
    expect(sessions.get("s1.2")?.step).toBe(1);
  });

  it("sends the concurrent steps of a slot to the runtime as one stepEach per build", async () => {
    const { engine } = await counterRuntime();
    const calls: number[] = [];
    const counting: Engine = Object.create(engine) as Engine;
    counting.stepEach = (selector, items, options) => {
      calls.push(items.length);
      return engine.stepEach(selector, items, options);
    };
    counting.step = (...args) => {
      calls.push(1);
      return engine.step(...args);
    };
    const { machine, sessions } = consoleWith(counting as InlineEngine);
    await machine.applyBatch(
      batchOf(
        [0, 1, 2].map(() => createItem()),
        1,
      ),
    );
    const steps = ["s1.0", "s1.1", "s1.2", "s1.0"].map((id, i) => stepItem(id, i === 3 ? 1 : 0));
    const results = await machine.applyBatch(batchOf(steps, 2));
    // Three sessions together; the second step of s1.0 waits for its first.
    expect(calls).toEqual([3, 1]);
    expect(results.map((r) => r[0])).toEqual([0, 0, 0, 0]);
    expect(sessions.get("s1.0")?.step).toBe(2);
  });

  it("spends the byte budget in command order whatever order the guest calls finish in", async () => {
    const { engine } = await counterRuntime();
    // The first session's guest call (counter value 1) finishes last.
    const slowFirst: Engine = Object.create(engine) as Engine;
    slowFirst.step = async (selector, state, action) => {
      if (state[0] === 1) {
        for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
      }
      return engine.step(selector, state, action);
    };
    // Two fresh counter sessions (63 bytes each) and room for one first step (8 bytes).
    const limits = { maxTotalBytes: 63 * 2 + 8 };
    const one = consoleWith(engine, limits).machine;
    const batched = consoleWith(slowFirst as InlineEngine, limits, {
      coalesceSteps: false,
    }).machine;
    const create = (seed: bigint): Item => ({
      kind: "session",
      command: {
        op: "create",
        envId: "counter-v1",
        buildId: "",
        seed,
        hint: new Uint8Array(),
        stampMs: 0,
      },
    });
    const setup = batchOf([create(1n), create(2n)], 1);
    const slot = batchOf([stepItem("s1.0", 0), stepItem("s1.1", 0)], 2);
    const expected: Uint8Array[] = [];
    for (const { command, context } of [...setup, ...slot]) {
      expected.push(await one.apply(command, context));
    }
    const actual = [...(await batched.applyBatch(setup)), ...(await batched.applyBatch(slot))];
    expect(actual).toEqual(expected);
    expect(batched.snapshot()).toEqual(one.snapshot());
  });

  it("lets a step that expires a session wait for the steps queued before it", async () => {
    const { engine } = await counterRuntime();
    const limits = { idleExpiryMs: 50 };
    const make = () => consoleWith(scrambled(engine, 3), limits).machine;
    const one = make();
    const batched = make();
    const setup = batchOf([createItem(), createItem()], 1);
    // s1.0 steps at time 0, then a step stamped 100 later in the same slot expires it.
    const slot = batchOf([stepItem("s1.0", 0), stepItem("s1.1", 0, 100)], 2);
    const expected: Uint8Array[] = [];
    for (const { command, context } of [...setup, ...slot]) {
      expected.push(await one.apply(command, context));
    }
    const actual = [...(await batched.applyBatch(setup)), ...(await batched.applyBatch(slot))];
    expect(actual).toEqual(expected);
    expect(batched.snapshot()).toEqual(one.snapshot());
  });
});

function createItem(): Item {
  return {
    kind: "session",
    command: {
      op: "create",
      envId: "counter-v1",
      buildId: "",
      seed: 0n,
      hint: new Uint8Array(),
      stampMs: 0,
    },
  };
}

function stepItem(id: string, expectedStep: number, stampMs = 0): Item {
  return {
    kind: "session",
    command: { op: "step", sessionId: id, expectedStep, action: u32(0), stampMs },
  };
}
