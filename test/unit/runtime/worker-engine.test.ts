import { afterEach, describe, expect, it } from "vitest";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import type { RolloutChunk } from "../../../host/runtime/engine.js";
import { CallError } from "../../../host/runtime/errors.js";
import { Registry, type RegistryOptions } from "../../../host/runtime/registry.js";
import { WorkerEngine, type WorkerEngineOptions } from "../../../host/runtime/worker-engine.js";
import { counterVariant } from "../../fixtures/counter-variants.js";
import { HOSTILE_STEPS, hostileCartridge, renamed } from "../../fixtures/hostile.js";
import { counterState, u32s } from "./engine-helpers.js";

/**
 * The worker pool runs guest code off the caller's thread: same bytes as the inline engine
 * whatever the number of workers, hostile calls fail alone, and the watchdog and cancellation
 * replace a worker stuck in a runaway call.
 */

const open: WorkerEngine[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((engine) => engine.close()));
});

/** A registry with the counter (counter-v1) and a step spinning in plain work (spin-v1). */
async function registry(options: RegistryOptions = {}): Promise<Registry> {
  const r = new Registry(options);
  await r.register(await counterVariant(), "counter.wasm");
  await r.register(await hostileCartridge(renamed("spin-v1"), HOSTILE_STEPS.plain), "spin.wasm");
  return r;
}

function pool(r: Registry, options: WorkerEngineOptions): WorkerEngine {
  const engine = new WorkerEngine(r, options);
  open.push(engine);
  return engine;
}

async function failure(call: () => Promise<unknown>): Promise<CallError> {
  try {
    await call();
  } catch (error) {
    if (error instanceof CallError) return error;
    throw error;
  }
  throw new Error("the call succeeded");
}

async function collect(chunks: AsyncIterable<RolloutChunk>): Promise<RolloutChunk[]> {
  const out: RolloutChunk[] = [];
  for await (const chunk of chunks) out.push(chunk);
  return out;
}

const ROLLOUT = {
  envId: "counter-v1",
  seed: 7n,
  episodes: 300,
  stepCap: 6,
  includeObs: true,
  chunkSteps: 100,
} as const;

describe("WorkerEngine", () => {
  it("gives the inline engine's bytes with 1 and 2 workers", async () => {
    const r = await registry();
    const inline = [...new CartridgeEngine(r).rollout(ROLLOUT)];
    expect(inline.length).toBeGreaterThan(5);
    for (const workers of [1, 2]) {
      const engine = pool(r, { workers });
      const chunks = await collect(engine.rollout(ROLLOUT));
      expect(chunks).toEqual(inline);
      const states = new Uint8Array(50 * 8).map((_, i) => (i % 8 === 0 ? i % 5 : 0));
      const actions = new Uint8Array(50 * 4);
      const vector = [];
      for await (const c of engine.batchStepChunks({ envId: "counter-v1" }, states, actions, 16)) {
        vector.push(c);
      }
      expect(vector).toEqual([
        ...new CartridgeEngine(r).batchStepChunks({ envId: "counter-v1" }, states, actions, 16),
      ]);
      const autoreset = { autoreset: { seed: 11n } };
      // Every env one step from truncation: each episode ends and is reset at once.
      const ending = u32s(...Array.from({ length: 50 }, (_, i) => [(i % 4) * 2, 5]).flat());
      const stepped = [];
      for await (const c of engine.batchStepChunks(
        { envId: "counter-v1" },
        ending,
        actions,
        16,
        autoreset,
      )) {
        stepped.push(c);
      }
      const expected = [
        ...new CartridgeEngine(r).batchStepChunks(
          { envId: "counter-v1" },
          ending,
          actions,
          16,
          autoreset,
        ),
      ];
      expect(expected.some((c) => (c.finalObs?.byteLength ?? 0) > 0)).toBe(true);
      expect(stepped).toEqual(expected);
      const resetRequest = { envId: "counter-v1", seed: 5n, count: 40, hints: [] };
      const resets = [];
      for await (const c of engine.resetBatchChunks(resetRequest, 16)) resets.push(c);
      expect(resets).toEqual([...new CartridgeEngine(r).resetBatchChunks(resetRequest, 16)]);
      const step = await engine.step({ envId: "counter-v1" }, counterState(2, 0), u32s(1));
      expect(step.reward).toBe(2);
    }
  });

  it("fails a hostile step alone, with BudgetExceeded, and serves the next call", async () => {
    const engine = pool(await registry(), { workers: 1 });
    const error = await failure(() =>
      engine.step({ envId: "spin-v1" }, counterState(1, 0), u32s(0)),
    );
    expect(error.code).toBe("BudgetExceeded");
    const next = await engine.step({ envId: "counter-v1" }, counterState(2, 0), u32s(1));
    expect(next.state).toEqual(counterState(4, 1));
    expect(engine.replacedWorkers).toBe(0);
  });

  it("replaces a worker whose call overruns the watchdog; the other worker keeps serving", async () => {
    // A budget far beyond what the watchdog allows: only the wall clock can stop this call.
    const r = await registry({ stepBudgetFuel: 2 ** 40, callBudgetCapFuel: 2 ** 40 });
    const engine = pool(r, { workers: 2, callTimeoutMs: 1000 });
    await engine.ready();
    const runaway = failure(() => engine.step({ envId: "spin-v1" }, counterState(1, 0), u32s(0)));
    // While the runaway holds one worker, the other answers calls.
    for (let i = 0; i < 20; i++) {
      const t = await engine.step({ envId: "counter-v1" }, counterState(0, 0), u32s(0));
      expect(t.reward).toBe(1);
    }
    const error = await runaway;
    expect(error.code).toBe("Timeout");
    expect(engine.replacedWorkers).toBe(1);
    const t = await engine.step({ envId: "counter-v1" }, counterState(2, 0), u32s(1));
    expect(t.reward).toBe(2);
  });

  it("stops a runaway call when its caller cancels, and frees the worker", async () => {
    const r = await registry({ stepBudgetFuel: 2 ** 40, callBudgetCapFuel: 2 ** 40 });
    // No unary worker: the one worker serves everything.
    const engine = pool(r, {
      workers: 1,
      unaryWorkers: 0,
      callTimeoutMs: 60_000,
      cancelGraceMs: 10,
    });
    // Once the worker is up, the runaway is handed to it at once: the abort finds it running.
    await engine.ready();
    const abort = new AbortController();
    const runaway = failure(() =>
      engine.step({ envId: "spin-v1" }, counterState(1, 0), u32s(0), { signal: abort.signal }),
    );
    // Queued behind the runaway on the only worker: served once the cancel frees it.
    const queued = engine.step({ envId: "counter-v1" }, counterState(0, 0), u32s(0));
    abort.abort();
    expect((await runaway).code).toBe("Cancelled");
    expect((await queued).reward).toBe(1);
    expect(engine.replacedWorkers).toBe(1);
  });

  it("answers Step and Reset through the unary channel as the inline engine does, failures too", async () => {
    const r = await registry();
    const inline = new CartridgeEngine(r);
    const engine = pool(r, { workers: 1 });
    const counter = { envId: "counter-v1" };
    for (const seed of [0n, 5n, 2n ** 64n - 1n]) {
      expect(await engine.reset(counter, seed)).toEqual(inline.reset(counter, seed));
    }
    for (let value = 0; value < 4; value++) {
      const state = counterState(value, value);
      expect(await engine.step(counter, state, u32s(1))).toEqual(
        inline.step(counter, state, u32s(1)),
      );
    }
    // Refused in the worker, answered by message, with the inline engine's typed errors; the
    // channel serves the next call.
    expect((await failure(() => engine.reset(counter, 2n ** 64n))).code).toBe("BadArgument");
    expect((await failure(() => engine.step(counter, new Uint8Array(3), u32s(1)))).code).toBe(
      "BadState",
    );
    expect(await engine.step(counter, counterState(2, 0), u32s(1))).toEqual(
      inline.step(counter, counterState(2, 0), u32s(1)),
    );
    expect(engine.replacedWorkers).toBe(0);
  });

  it("answers a Step on the unary worker while a runaway chunk holds the only bulk worker", async () => {
    const r = await registry({ stepBudgetFuel: 2 ** 40, callBudgetCapFuel: 2 ** 40 });
    const engine = pool(r, { workers: 1, callTimeoutMs: 60_000, cancelGraceMs: 10 });
    await engine.ready();
    const abort = new AbortController();
    const spin = { ...ROLLOUT, envId: "spin-v1", episodes: 1 };
    const stream = collect(engine.rollout(spin, { signal: abort.signal })).catch(
      (error: unknown) => error,
    );
    await expect.poll(() => engine.runningCalls).toBe(1);
    // The bulk worker is stuck in the chunk; the Step does not wait for it.
    const t = await engine.step({ envId: "counter-v1" }, counterState(2, 0), u32s(1));
    expect(t.reward).toBe(2);
    expect(engine.runningCalls).toBe(1);
    abort.abort();
    expect(((await stream) as CallError).code).toBe("Cancelled");
  });
});
