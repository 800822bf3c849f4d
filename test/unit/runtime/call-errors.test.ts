import { describe, expect, it } from "vitest";
import {
  actionIs,
  addStepLocals,
  addTopLevel,
  counterVariant,
  editManifest,
  edits,
  withStepBody,
} from "../../fixtures/counter-variants.js";
import { callError, counterEngine, counterState, u32s } from "./engine-helpers.js";

const counter = { envId: "counter-v1" };

describe("status codes from the cartridge become typed errors", () => {
  it("BadState for a state the cartridge cannot decode", async () => {
    const { engine } = await counterEngine();
    expect(callError(() => engine.step(counter, counterState(200, 0), u32s(0))).code).toBe(
      "BadState",
    );
  });

  it("BadAction for an action out of range", async () => {
    const { engine } = await counterEngine();
    expect(callError(() => engine.step(counter, counterState(1, 0), u32s(5))).code).toBe(
      "BadAction",
    );
  });

  it("IllegalAction for a well-formed action the rules forbid", async () => {
    const { engine } = await counterEngine();
    const error = callError(() => engine.step(counter, counterState(3, 0), u32s(2)));
    expect(error.code).toBe("IllegalAction");
    expect(error.envId).toBe("counter-v1");
  });

  it("EpisodeOver for a finished episode", async () => {
    const { engine } = await counterEngine();
    expect(callError(() => engine.step(counter, counterState(10, 3), u32s(0))).code).toBe(
      "EpisodeOver",
    );
  });

  it("BadHint for a hint the cartridge rejects and for one longer than hint_max_bytes", async () => {
    const { engine } = await counterEngine();
    expect(engine.reset(counter, 0n, u32s(9)).state).toEqual(counterState(9, 0));
    expect(callError(() => engine.reset(counter, 0n, u32s(12))).code).toBe("BadHint");
    const long = callError(() => engine.reset(counter, 0n, u32s(1, 2)));
    expect(long.code).toBe("BadHint");
    expect(long.message).toContain("at most 4");
  });

  it("CartridgeInternal for status 7 and for an unknown status", async () => {
    for (const status of [7, 42]) {
      const { registry, engine } = await counterEngine();
      const bytes = await counterVariant(
        edits(
          editManifest({ env_id: "internal-v1" }),
          withStepBody(`(if ${actionIs(1)} (then (return (i32.const ${status}))))`),
        ),
      );
      await registry.register(bytes, "internal.wasm");
      const error = callError(() =>
        engine.step({ envId: "internal-v1" }, counterState(0, 0), u32s(1)),
      );
      expect(error.code).toBe("CartridgeInternal");
      expect(error.message).toContain(String(status));
    }
  });
});

describe("the engine validates requests before calling the cartridge", () => {
  it("names expected and actual sizes of a wrong-sized state or action", async () => {
    const { engine } = await counterEngine();
    const state = callError(() => engine.step(counter, new Uint8Array(7), u32s(0)));
    expect(state.code).toBe("BadState");
    expect(state.message).toContain("state is 7 bytes; counter-v1 expects 8");
    const action = callError(() => engine.step(counter, counterState(0, 0), new Uint8Array(3)));
    expect(action.code).toBe("BadAction");
    expect(action.message).toContain("action is 3 bytes; counter-v1 expects 4");
  });

  it("rejects batches that are empty, ragged or over the limit", async () => {
    const { engine } = await counterEngine({ maxBatch: 4 });
    expect(
      callError(() => engine.batchStep(counter, new Uint8Array(0), new Uint8Array(0))).code,
    ).toBe("BadArgument");
    expect(callError(() => engine.batchStep(counter, new Uint8Array(12), u32s(0))).code).toBe(
      "BadState",
    );
    expect(callError(() => engine.batchStep(counter, new Uint8Array(16), u32s(0))).code).toBe(
      "BadAction",
    );
    const tooMany = callError(() =>
      engine.batchStep(counter, new Uint8Array(40), new Uint8Array(20)),
    );
    expect(tooMany.code).toBe("LimitExceeded");
    expect(tooMany.message).toContain("limit is 4");
  });

  it("rejects rollout requests over the limits, at the call rather than at the first chunk", async () => {
    const { engine, registry } = await counterEngine();
    const max = registry.resolve(counter).capabilities.maxRolloutSteps;
    const base = { ...counter, seed: 1n, episodes: 1, stepCap: 6, includeObs: false };
    expect(callError(() => engine.rollout({ ...base, stepCap: max + 1 })).code).toBe(
      "LimitExceeded",
    );
    expect(callError(() => engine.rollout({ ...base, episodes: 0 })).code).toBe("BadArgument");
    expect(callError(() => engine.rollout({ ...base, stepCap: 0 })).code).toBe("BadArgument");
    expect(callError(() => engine.rollout({ ...base, seed: -1n })).code).toBe("BadArgument");
    expect(callError(() => engine.rollout({ ...base, seed: 1n << 64n })).code).toBe("BadArgument");
  });

  it("UnknownEnv and UnknownBuild for selectors that match nothing", async () => {
    const { engine } = await counterEngine();
    expect(callError(() => engine.reset({ envId: "nope-v1" }, 0n)).code).toBe("UnknownEnv");
    expect(callError(() => engine.reset({ envId: "counter-v1", buildId: "ab" }, 0n)).code).toBe(
      "UnknownBuild",
    );
  });
});

describe("a misbehaving cartridge fails only the call, and the next call works", () => {
  const trapping = [
    {
      name: "a trap (unreachable)",
      code: "Trap",
      message: /unreachable/,
      edit: withStepBody(`(if ${actionIs(1)} (then unreachable))`),
    },
    {
      name: "an out-of-bounds memory access",
      code: "Trap",
      message: /memory access out of bounds/,
      edit: withStepBody(`(if ${actionIs(1)} (then (drop (i32.load (i32.const -4)))))`),
    },
    {
      name: "an env.abort call, with its AssemblyScript message decoded",
      code: "Trap",
      message: /cartridge aborted: boom at game\.ts:12:34/,
      edit: edits(
        addTopLevel(
          '(data (i32.const 2000) "\\08\\00\\00\\00b\\00o\\00o\\00m\\00")\n(data (i32.const 2100) "\\0e\\00\\00\\00g\\00a\\00m\\00e\\00.\\00t\\00s\\00")',
        ),
        withStepBody(
          `(if ${actionIs(1)} (then (call $abort (i32.const 2004) (i32.const 2104) (i32.const 12) (i32.const 34))))`,
        ),
      ),
    },
    {
      name: "an infinite loop",
      code: "BudgetExceeded",
      message: /ran out of fuel/,
      edit: withStepBody(`(if ${actionIs(1)} (then (loop $spin (br $spin))))`),
    },
    {
      name: "infinite recursion",
      code: "BudgetExceeded",
      message: /call depth limit/,
      edit: edits(
        addTopLevel("(func $down (param i32) (result i32) (call $down (local.get 0)))"),
        withStepBody(`(if ${actionIs(1)} (then (drop (call $down (i32.const 0)))))`),
      ),
    },
    {
      name: "a loop that allocates memory until it cannot",
      code: "Trap",
      message: /unreachable/,
      edit: edits(
        addStepLocals("(local $k i32)"),
        withStepBody(
          `(if ${actionIs(1)} (then (loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) unreachable))`,
        ),
      ),
    },
  ] as const;

  it.each(trapping)("$name fails with $code", async ({ code, message, edit }) => {
    const { registry, engine } = await counterEngine();
    const bytes = await counterVariant(edits(editManifest({ env_id: "bad-v1" }), edit));
    await registry.register(bytes, "bad.wasm");
    const bad = { envId: "bad-v1" };
    const pool = registry.resolve(bad).pool;
    expect(engine.step(bad, counterState(0, 0), u32s(0)).state).toEqual(counterState(1, 1));
    const error = callError(() => engine.step(bad, counterState(0, 0), u32s(1)));
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    expect(error.envId).toBe("bad-v1");
    // The trapped instance was discarded; the next call gets a fresh one and works.
    const createdBefore = pool.created;
    expect(engine.step(bad, counterState(0, 0), u32s(0)).state).toEqual(counterState(1, 1));
    expect(pool.created).toBe(createdBefore + 1);
    // The good cartridge in the same engine never noticed.
    expect(engine.step(counter, counterState(2, 0), u32s(2)).state).toEqual(counterState(5, 1));
  });

  it("a stack overflow below the depth limit is a Trap", async () => {
    const { registry, engine } = await counterEngine({ maxCallDepth: 1 << 20 });
    const bytes = await counterVariant(
      edits(
        editManifest({ env_id: "deep-v1" }),
        addTopLevel("(func $down (param i32) (result i32) (call $down (local.get 0)))"),
        withStepBody(`(if ${actionIs(1)} (then (drop (call $down (i32.const 0)))))`),
      ),
    );
    await registry.register(bytes, "deep.wasm");
    const error = callError(() => engine.step({ envId: "deep-v1" }, counterState(0, 0), u32s(1)));
    expect(error.code).toBe("Trap");
    expect(error.message).toMatch(/stack/);
    expect(engine.step({ envId: "deep-v1" }, counterState(0, 0), u32s(0)).reward).toBe(1);
  });

  it("a trap inside a batch or a rollout fails that call only", async () => {
    const { registry, engine } = await counterEngine();
    const bytes = await counterVariant(
      edits(
        editManifest({ env_id: "bad-v1" }),
        withStepBody(`(if ${actionIs(1)} (then unreachable))`),
      ),
    );
    await registry.register(bytes, "bad.wasm");
    const bad = { envId: "bad-v1" };
    const states = new Uint8Array([...counterState(0, 0), ...counterState(0, 0)]);
    expect(callError(() => engine.batchStep(bad, states, u32s(0, 1))).code).toBe("Trap");
    expect(engine.batchStep(bad, states, u32s(0, 0)).statuses).toEqual(new Uint8Array([0, 0]));
    const rollout = () => [
      ...engine.rollout({ ...bad, seed: 0n, episodes: 20, stepCap: 6, includeObs: false }),
    ];
    expect(callError(rollout).code).toBe("Trap");
    expect(engine.reset(bad, 3n).state).toEqual(counterState(3, 0));
  });
});
