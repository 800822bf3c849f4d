import { afterEach, describe, expect, it } from "vitest";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import { CallError } from "../../../host/runtime/errors.js";
import { Registry } from "../../../host/runtime/registry.js";
import { WorkerEngine, type WorkerEngineOptions } from "../../../host/runtime/worker-engine.js";
import { counterVariant } from "../../fixtures/counter-variants.js";
import { HOSTILE_STEPS, hostileCartridge, renamed } from "../../fixtures/hostile.js";
import { counterState, u32s } from "./engine-helpers.js";

/**
 * The unary fast path of the worker pool (inline-slice.ts): a step or reset that fits the fuel
 * slice is answered on the caller's thread with the bytes a worker would give; one that does not
 * goes to a worker with the full budget, and its build is demoted so it never costs a slice again.
 */

const open: WorkerEngine[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((engine) => engine.close()));
});

async function setup(options: WorkerEngineOptions = {}) {
  const registry = new Registry();
  await registry.register(await counterVariant(), "counter.wasm");
  await registry.register(
    await hostileCartridge(renamed("spin-v1"), HOSTILE_STEPS.plain),
    "spin.wasm",
  );
  const engine = new WorkerEngine(registry, { workers: 1, inlineSliceFuel: 10_000, ...options });
  open.push(engine);
  return { registry, engine, reference: new CartridgeEngine(registry) };
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

describe("inline fuel slice", () => {
  it("answers a cheap step and reset on the caller's thread, with the reference bytes", async () => {
    const { engine, reference } = await setup();
    const selector = { envId: "counter-v1" };
    const step = await engine.step(selector, counterState(2, 0), u32s(1));
    expect(step).toEqual(reference.step(selector, counterState(2, 0), u32s(1)));
    const reset = await engine.reset(selector, 9n);
    expect(reset).toEqual(reference.reset(selector, 9n));
    expect(engine.inline?.counts).toEqual({ inline: 2, handedOn: 0 });
  });

  it("answers a bad request here, without demoting the build", async () => {
    const { engine } = await setup();
    const error = await failure(() =>
      engine.step({ envId: "counter-v1" }, new Uint8Array(3), u32s(1)),
    );
    expect(error.code).toBe("BadState");
    await engine.step({ envId: "counter-v1" }, counterState(2, 0), u32s(1));
    expect(engine.inline?.counts).toEqual({ inline: 1, handedOn: 0 });
  });

  it("hands a step that outgrows the slice to a worker, which gives the same result", async () => {
    // A slice smaller than one counter step: every call needs the worker's full budget.
    const { engine, reference } = await setup({ inlineSliceFuel: 1 });
    const selector = { envId: "counter-v1" };
    const first = await engine.step(selector, counterState(2, 0), u32s(1));
    expect(first).toEqual(reference.step(selector, counterState(2, 0), u32s(1)));
    const second = await engine.step(selector, counterState(2, 0), u32s(1));
    expect(second).toEqual(first);
    // Demoted after the first: the second went straight to the worker.
    expect(engine.inline?.counts).toEqual({ inline: 0, handedOn: 1 });
  });

  it("costs a hostile build one slice, once; the worker stops it with its full budget", async () => {
    const { engine } = await setup();
    for (let i = 0; i < 3; i++) {
      const error = await failure(() =>
        engine.step({ envId: "spin-v1" }, counterState(1, 0), u32s(0)),
      );
      expect(error.code).toBe("BudgetExceeded");
    }
    expect(engine.inline?.counts.handedOn).toBe(1);
    // Other builds keep the fast path.
    await engine.step({ envId: "counter-v1" }, counterState(2, 0), u32s(1));
    expect(engine.inline?.counts.inline).toBe(1);
  });

  it("sends every call to a worker when the slice is 0", async () => {
    const { engine, reference } = await setup({ inlineSliceFuel: 0 });
    expect(engine.inline).toBeUndefined();
    const selector = { envId: "counter-v1" };
    const step = await engine.step(selector, counterState(2, 0), u32s(1));
    expect(step).toEqual(reference.step(selector, counterState(2, 0), u32s(1)));
  });
});
