import { describe, expect, it } from "vitest";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import { CallError, LoadError } from "../../../host/runtime/errors.js";
import { Registry } from "../../../host/runtime/registry.js";
import { counterVariant } from "../../fixtures/counter-variants.js";
import {
  bigExchange,
  HOSTILE_STEPS,
  hostileCartridge,
  PLAIN_LOOP,
  renamed,
  spinningStart,
} from "../../fixtures/hostile.js";
import { counterState, u32s } from "./engine-helpers.js";

/**
 * The hostile cartridges of issue 10, each of which froze the server for seconds to a minute
 * before fuel counted the work inside loops: every one is now stopped by fuel with
 * `BudgetExceeded`, under the default budgets, and the engine serves the next call.
 */

async function failure(call: () => unknown): Promise<CallError> {
  try {
    await call();
  } catch (error) {
    if (error instanceof CallError) return error;
    throw error;
  }
  throw new Error("the call succeeded");
}

/** An engine with the good counter (counter-v1) and the given hostile variants registered. */
async function engineWith(variants: Record<string, (wat: string) => string>) {
  const registry = new Registry();
  await registry.register(await counterVariant(), "counter.wasm");
  for (const [envId, edit] of Object.entries(variants)) {
    await registry.register(await hostileCartridge(renamed(envId), edit), `${envId}.wasm`);
  }
  return new CartridgeEngine(registry);
}

async function expectServesNext(engine: CartridgeEngine, envId: string): Promise<void> {
  const reset = await engine.reset({ envId }, 3n);
  expect(reset.build.envId).toBe(envId);
  const step = await engine.step({ envId: "counter-v1" }, counterState(2, 0), u32s(1));
  expect(step.reward).toBe(2);
}

describe("hostile cartridges are stopped by fuel", () => {
  it.each(Object.keys(HOSTILE_STEPS))("a step spinning in %s work", async (kind) => {
    const edit = HOSTILE_STEPS[kind as keyof typeof HOSTILE_STEPS];
    const engine = await engineWith({ [`hostile-${kind}-v1`]: edit });
    const envId = `hostile-${kind}-v1`;
    const error = await failure(() => engine.step({ envId }, counterState(1, 0), u32s(0)));
    expect(error.code).toBe("BudgetExceeded");
    expect(error.envId).toBe(envId);
    await expectServesNext(engine, envId);
  });

  it("a rollout episode of 2,000 such steps and a vector step of 2,340 envs", async () => {
    const envId = "hostile-big-v1";
    const engine = await engineWith({ [envId]: (w) => HOSTILE_STEPS.plain(bigExchange(w)) });
    const caps = engine.capabilities({ envId });
    expect(caps.maxRolloutSteps).toBeGreaterThanOrEqual(2000);
    expect(caps.maxBatch).toBeGreaterThanOrEqual(2340);
    const rollout = await failure(async () => {
      const chunks = engine.rollout({
        envId,
        seed: 1n,
        episodes: 1,
        stepCap: 2000,
        includeObs: false,
      });
      for await (const _ of chunks) {
        // Drained only to run the episode.
      }
    });
    expect(rollout.code).toBe("BudgetExceeded");
    const envs = 2340;
    const batch = await failure(() =>
      engine.batchStep({ envId }, new Uint8Array(envs * 8), new Uint8Array(envs * 4)),
    );
    expect(batch.code).toBe("BudgetExceeded");
    await expectServesNext(engine, envId);
  });

  it("a start function spinning in plain work is refused at load", async () => {
    const registry = new Registry();
    const bytes = await hostileCartridge(spinningStart(PLAIN_LOOP));
    const error = await registry.register(bytes, "start.wasm").then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(LoadError);
    expect((error as LoadError).code).toBe("BudgetExceeded");
    expect(registry.list()).toEqual([]);
  });
});
