import { describe, expect, it } from "vitest";
import { CallError } from "../../../host/runtime/errors.js";
import { CartridgeInstance } from "../../../host/runtime/instance.js";
import { loadCartridge } from "../../../host/runtime/loader.js";
import {
  addStepLocals,
  counterVariant,
  edits,
  withStepBody,
} from "../../fixtures/counter-variants.js";
import { watToWasm } from "../../fixtures/wat-compiler.js";
import { counterState, u32s } from "./engine-helpers.js";

/** cartridge_step plus $valid, $over, $write_obs and $write_info: one unit per function entry. */
const STEP_BASE_FUEL = 5;

/** A step that first spins a loop `value * 10` times (the loop header is entered once more). */
const loopingStep = edits(
  addStepLocals("(local $k i32)"),
  withStepBody(`(block $out (loop $spin
    (br_if $out (i32.ge_u (local.get $k) (i32.mul (i32.load (local.get $s_in)) (i32.const 10))))
    (local.set $k (i32.add (local.get $k) (i32.const 1)))
    (br $spin)))`),
);

function fuelUsed(instance: CartridgeInstance, budget: number): number {
  return budget - Number(instance.fuelLeft);
}

describe("deterministic fuel", () => {
  it("charges one unit per function entry and per loop iteration", async () => {
    const budget = 1_000_000;
    const loaded = await loadCartridge(await counterVariant(loopingStep), {
      stepBudgetFuel: budget,
    });
    for (const value of [0, 1, 7, 9]) {
      const instance = new CartridgeInstance(loaded);
      instance.step(counterState(value, 0), u32s(0));
      expect(fuelUsed(instance, budget)).toBe(STEP_BASE_FUEL + value * 10 + 1);
    }
  });

  it("runs out at exactly the same point on every run", async () => {
    const value = 9;
    const exact = STEP_BASE_FUEL + value * 10 + 1;
    const fits = await loadCartridge(await counterVariant(loopingStep), { stepBudgetFuel: exact });
    const short = await loadCartridge(await counterVariant(loopingStep), {
      stepBudgetFuel: exact - 1,
    });
    for (let run = 0; run < 3; run++) {
      new CartridgeInstance(fits).step(counterState(value, 0), u32s(0));
      const instance = new CartridgeInstance(short);
      let error: unknown;
      try {
        instance.step(counterState(value, 0), u32s(0));
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(CallError);
      expect((error as CallError).code).toBe("BudgetExceeded");
      expect(instance.dead).toBe(true);
      expect(instance.fuelLeft).toBe(-1n);
    }
  });

  it("gives a batch one budget per env and a rollout one per step", async () => {
    const loaded = await loadCartridge(await counterVariant(), { stepBudgetFuel: 40 });
    const instance = new CartridgeInstance(loaded);
    // 16 envs cost far more than 40 units in total but at most 40 each.
    instance.write(instance.batch.states, new Uint8Array(16 * 8));
    instance.write(instance.batch.actions, new Uint8Array(16 * 4));
    instance.stepBatch(16);
    expect(instance.rollout(3n, 6, true)).toBeGreaterThan(0);
  });

  it("meters every loop and function in modules using multi-value blocks and tail calls", async () => {
    // A standalone module (not a cartridge) exercising the instrumenter's harder cases: a
    // multi-value function body, a loop with a block type index, `return` and `return_call`.
    const wat = `(module
      (memory (export "memory") 1)
      (func $pair (param i32) (result i32 i32) (local.get 0) (local.get 0))
      (func $sum (export "sum") (param $n i32) (result i32) (local $acc i32)
        local.get $n
        loop $l (param i32) (result i32)
          drop
          (local.set $acc (i32.add (local.get $acc) (local.get $n)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          local.get $n
          local.get $n
          br_if $l
        end
        drop
        (if (i32.eqz (local.get $acc)) (then (return (i32.const -1))))
        (return_call $first (call $pair (local.get $acc))))
      (func $first (param i32 i32) (result i32) (local.get 0)))`;
    const { readModuleInfo } = await import("../../../host/runtime/wasm-module-info.js");
    const { instrumentFuel, FuelExport } = await import("../../../host/runtime/fuel.js");
    const { writeSections } = await import("../../../host/runtime/wasm-binary.js");
    const bytes = await watToWasm(wat);
    const metered = writeSections(
      instrumentFuel(readModuleInfo(bytes), { initialFuel: 0, maxCallDepth: 100 }),
    );
    const instance = new WebAssembly.Instance(
      new WebAssembly.Module(metered as Uint8Array<ArrayBuffer>),
    );
    const exports = instance.exports as Record<string, unknown>;
    const sum = exports.sum as (n: number) => number;
    const setFuel = exports[FuelExport.setFuel] as (fuel: number) => void;
    const fuel = exports[FuelExport.fuel] as () => bigint;
    setFuel(1000);
    expect(sum(4)).toBe(10);
    // sum + 4 loop iterations + pair + first.
    expect(1000n - fuel()).toBe(7n);
    expect((exports[FuelExport.depth] as () => number)()).toBe(0);
    setFuel(5);
    expect(() => sum(100)).toThrow(WebAssembly.RuntimeError);
    expect(fuel()).toBe(-1n);
  });
});
