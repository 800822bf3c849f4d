import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CallError } from "../../../host/runtime/errors.js";
import { FuelExport, instrumentFuel } from "../../../host/runtime/fuel.js";
import { CartridgeInstance } from "../../../host/runtime/instance.js";
import { loadCartridge } from "../../../host/runtime/loader.js";
import type { CartridgeExports } from "../../../host/runtime/sandbox-instantiate.js";
import { writeSections } from "../../../host/runtime/wasm-binary.js";
import { readModuleInfo } from "../../../host/runtime/wasm-module-info.js";
import { compileWatFixture } from "../../fixtures/wat-compiler.js";

/**
 * Metering must never change what a module computes: these tests run the same inputs through the
 * metered and the unmetered compile of the same bytes and compare every output byte.
 */

const BUNDLED = ["tictactoe-v1", "connect4-v1", "pendulum-v1"].map((name) =>
  fileURLToPath(new URL(`../../../build/cartridges/${name}.wasm`, import.meta.url)),
);

async function bundled(path: string): Promise<Uint8Array> {
  if (!existsSync(path)) throw new Error(`${path} is missing: run npm run build`);
  return new Uint8Array(await readFile(path));
}

function instantiate(bytes: Uint8Array): Record<string, unknown> {
  const abort = () => {
    throw new Error("abort");
  };
  return new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), {
    env: { abort },
  }).exports as Record<string, unknown>;
}

describe("metered modules compute exactly what the unmetered ones do", () => {
  it("on a module using bulk memory, SIMD, saturating conversions, tables and multi-value", async () => {
    const bytes = await compileWatFixture("features.wat");
    const metered = writeSections(
      instrumentFuel(readModuleInfo(bytes), { initialFuel: 1e6, maxCallDepth: 64 }),
    );
    const plain = instantiate(bytes);
    const instrumented = instantiate(metered);
    const setFuel = instrumented[FuelExport.setFuel] as (fuel: number) => void;
    const fuel = instrumented[FuelExport.fuel] as () => bigint;
    const run = (exports: Record<string, unknown>, n: number) =>
      (exports.run as (n: number) => number)(n);
    setFuel(1e6);
    const expected = run(plain, 20);
    expect(run(instrumented, 20)).toBe(expected);
    const firstUsed = 1_000_000n - fuel();
    // The loop's br_table takes a different arm every third iteration: every 6 iterations cost
    // the same, and the count is the same on a fresh instance.
    const used = (exports: Record<string, unknown>, n: number) => {
      (exports[FuelExport.setFuel] as (fuel: number) => void)(1e6);
      run(exports, n);
      return 1_000_000 - Number((exports[FuelExport.fuel] as () => bigint)());
    };
    const fresh = () => instantiate(metered);
    const [six, twelve, eighteen] = [6, 12, 18].map((n) => used(fresh(), n));
    expect((twelve as number) - (six as number)).toBe((eighteen as number) - (twelve as number));
    expect(BigInt(used(fresh(), 20))).toBe(firstUsed);
    const memory = (e: Record<string, unknown>) =>
      new Uint8Array((e.memory as WebAssembly.Memory).buffer);
    expect(memory(instrumented)).toEqual(memory(plain));
  });

  it.each(BUNDLED)("on the bundled cartridge %s: rollouts byte for byte", async (path) => {
    const bytes = await bundled(path);
    const loaded = await loadCartridge(bytes);
    const instance = new CartridgeInstance(loaded);
    const raw = instantiate(bytes) as unknown as CartridgeExports;
    const r = instance.rolloutArrays;
    const steps = Math.min(64, loaded.maxRolloutSteps);
    for (const seed of [0n, 1n, 2n, 123_456_789n]) {
      const rows = instance.rollout(seed, steps, true);
      const metered = instance.view(r.actions, r.end - r.actions).slice();
      const rawRows = raw.cartridge_rollout(seed, steps, 1, r.actions, r.states, r.obs, r.infos);
      expect(rawRows).toBe(rows);
      expect(new Uint8Array(raw.memory.buffer, r.actions, r.end - r.actions)).toEqual(metered);
    }
  });

  it("charges the same fuel for the same step on every instance, to the unit", async () => {
    const bytes = await bundled(BUNDLED[0] as string);
    const budget = 1_000_000;
    const loaded = await loadCartridge(bytes, { stepBudgetFuel: budget });
    // The start state comes from a fully budgeted instance: a reset may cost more than a step, so
    // the tight budgets below must only ever pay for the step being measured.
    const start = new CartridgeInstance(loaded);
    start.reset(5n, new Uint8Array(0));
    const state = start.view(start.single.stateOut, loaded.sizes.stateBytes).slice();
    const action = new Uint8Array(new Uint32Array([4]).buffer);
    const used = [0, 1].map(() => {
      const instance = new CartridgeInstance(loaded);
      instance.step(state, action);
      return budget - Number(instance.fuelLeft);
    });
    expect(used[0]).toBe(used[1]);
    const exact = used[0] as number;
    const fits = new CartridgeInstance(await loadCartridge(bytes, { stepBudgetFuel: exact }));
    const short = new CartridgeInstance(await loadCartridge(bytes, { stepBudgetFuel: exact - 1 }));
    expect(() => fits.step(state, action)).not.toThrow();
    expect(() => short.step(state, action)).toThrow(CallError);
    expect(short.fuelLeft).toBe(-1n);
  });
});
