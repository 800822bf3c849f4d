import { afterEach, describe, expect, it } from "vitest";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import type { Engine, StepItem } from "../../../host/runtime/engine.js";
import { CallError } from "../../../host/runtime/errors.js";
import { InlineEngine } from "../../../host/runtime/inline-engine.js";
import { Registry } from "../../../host/runtime/registry.js";
import { WorkerEngine } from "../../../host/runtime/worker-engine.js";
import { failingCounter } from "../replication/session-helpers.js";
import { counterState, u32s } from "./engine-helpers.js";

/**
 * `stepEach` steps every item exactly as a lone `step` would (each metered alone), in one call:
 * an item's failure is its own outcome, the others go on.
 */

const open: WorkerEngine[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((engine) => engine.close()));
});

async function engines(): Promise<[string, Engine][]> {
  const registry = new Registry();
  await registry.register(await failingCounter(), "counter.wasm");
  const pool = new WorkerEngine(registry, { workers: 1 });
  open.push(pool);
  await pool.ready();
  return [
    ["inline", new InlineEngine(new CartridgeEngine(registry))],
    ["worker", pool],
  ];
}

const selector = { envId: "counter-v1" };
// Value 1 (odd): action 2 is illegal; 7 traps; 8 runs out of fuel; 0 and 1 step.
const items: StepItem[] = [0, 2, 7, 1, 8, 0].map((action) => ({
  state: counterState(1, 0),
  action: u32s(action),
}));

describe("Engine.stepEach", () => {
  it("gives each item the outcome of a lone step", async () => {
    for (const [name, engine] of await engines()) {
      const outcomes = await engine.stepEach(selector, items);
      expect(
        outcomes.map((o) => (o.ok ? "ok" : o.error.code)),
        name,
      ).toEqual(["ok", "IllegalAction", "Trap", "ok", "BudgetExceeded", "ok"]);
      for (const [i, outcome] of outcomes.entries()) {
        const item = items[i];
        if (item === undefined) continue;
        const lone = await engine
          .step(selector, item.state, item.action)
          .catch((error: unknown) => error);
        if (outcome.ok) expect(outcome.transition, name).toEqual(lone);
        else {
          expect(lone, name).toBeInstanceOf(CallError);
          expect(outcome.error.code, name).toBe((lone as CallError).code);
        }
      }
    }
  });

  it("fails as a whole only for what fails every item", async () => {
    for (const [name, engine] of await engines()) {
      await expect(engine.stepEach({ envId: "nope-v1" }, items), name).rejects.toMatchObject({
        code: "UnknownEnv",
      });
      const aborted = AbortSignal.abort();
      await expect(
        engine.stepEach(selector, items, { signal: aborted }),
        name,
      ).rejects.toMatchObject({ code: "Cancelled" });
      expect(await engine.stepEach(selector, []), name).toEqual([]);
    }
  });
});
