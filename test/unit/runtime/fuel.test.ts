import { describe, expect, it } from "vitest";
import { CallError } from "../../../host/runtime/errors.js";
import { FuelExport, instrumentFuel } from "../../../host/runtime/fuel.js";
import { CartridgeInstance } from "../../../host/runtime/instance.js";
import { loadCartridge } from "../../../host/runtime/loader.js";
import { writeSections } from "../../../host/runtime/wasm-binary.js";
import { readModuleInfo } from "../../../host/runtime/wasm-module-info.js";
import {
  addStepLocals,
  counterVariant,
  edits,
  withStepBody,
} from "../../fixtures/counter-variants.js";
import { watToWasm } from "../../fixtures/wat-compiler.js";
import { counterState, u32s } from "./engine-helpers.js";

/** A step that first spins a loop `value * 10` times. */
const loopingStep = edits(
  addStepLocals("(local $k i32)"),
  withStepBody(`(block $out (loop $spin
    (br_if $out (i32.ge_u (local.get $k) (i32.mul (i32.load (local.get $s_in)) (i32.const 10))))
    (local.set $k (i32.add (local.get $k) (i32.const 1)))
    (br $spin)))`),
);
/** The weight of one iteration of that loop: 11 plain instructions and the `br` (one segment). */
const LOOP_ITERATION_FUEL = 12;

function fuelUsed(instance: CartridgeInstance, budget: number): number {
  return budget - Number(instance.fuelLeft);
}

/** A standalone metered module (not a cartridge) and its fuel controls. */
async function metered(wat: string) {
  const bytes = await watToWasm(wat);
  const module = new WebAssembly.Module(
    writeSections(
      instrumentFuel(readModuleInfo(bytes), { initialFuel: 0, maxCallDepth: 100 }),
    ) as Uint8Array<ArrayBuffer>,
  );
  const exports = new WebAssembly.Instance(module).exports as Record<string, unknown>;
  const setFuel = exports[FuelExport.setFuel] as (fuel: number) => void;
  const fuel = exports[FuelExport.fuel] as () => bigint;
  /** Fuel `call` uses from a budget of `budget`. */
  const used = (call: () => unknown, budget = 1e9) => {
    setFuel(budget);
    call();
    return budget - Number(fuel());
  };
  return { exports, setFuel, fuel, used };
}

describe("fuel in proportion to work", () => {
  it("charges a loop the weight of its body on every iteration", async () => {
    const m = await metered(`(module (func (export "spin") (param $n i32)
      (loop $l (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))`);
    const spin = m.exports.spin as (n: number) => void;
    // local.get, i32.const, i32.sub, local.tee, br_if: five units per iteration, nothing else.
    expect(m.used(() => spin(1))).toBe(5);
    expect(m.used(() => spin(1000))).toBe(5000);
  });

  it("charges bulk memory by its byte count, before the operation runs", async () => {
    const m = await metered(`(module (memory (export "memory") 1 4)
      (func (export "fill") (param $n i32) (memory.fill (i32.const 0) (i32.const 7) (local.get $n)))
      (func (export "copy") (param $n i32) (memory.copy (i32.const 1) (i32.const 0) (local.get $n)))
      (func (export "grow") (param $n i32) (result i32) (memory.grow (local.get $n))))`);
    const fill = m.exports.fill as (n: number) => void;
    const copy = m.exports.copy as (n: number) => void;
    const grow = m.exports.grow as (n: number) => number;
    // Three operands and the operation (1 unit), plus one unit per 8 bytes.
    expect(m.used(() => fill(0))).toBe(4);
    expect(m.used(() => fill(65536))).toBe(4 + 8192);
    expect(m.used(() => copy(65535))).toBe(4 + 8191);
    // local.get, memory.grow (4096 units) and 8192 units per 64 KiB page.
    expect(m.used(() => grow(1))).toBe(1 + 4096 + 8192);
    const memory = new Uint8Array((m.exports.memory as WebAssembly.Memory).buffer);
    memory.fill(0);
    expect(() => m.used(() => fill(65536), 4 + 8191)).toThrow(WebAssembly.RuntimeError);
    expect(m.fuel()).toBeLessThan(0n);
    // Refused before it ran: not one byte was written.
    expect(memory.every((b) => b === 0)).toBe(true);
  });

  it("charges a cartridge step's loop per iteration, the same on every instance", async () => {
    const budget = 1_000_000;
    const loaded = await loadCartridge(await counterVariant(loopingStep), {
      stepBudgetFuel: budget,
    });
    const used = [0, 1, 7, 9].map((value) => {
      const instance = new CartridgeInstance(loaded);
      instance.step(counterState(value, 0), u32s(0));
      return fuelUsed(instance, budget);
    });
    const base = used[0] as number;
    expect(used).toEqual([0, 1, 7, 9].map((v) => base + v * 10 * LOOP_ITERATION_FUEL));
  });

  it("runs out at exactly the same point on every run", async () => {
    const value = 9;
    const probe = new CartridgeInstance(
      await loadCartridge(await counterVariant(loopingStep), { stepBudgetFuel: 1e6 }),
    );
    probe.step(counterState(value, 0), u32s(0));
    const exact = fuelUsed(probe, 1e6);
    const fits = await loadCartridge(await counterVariant(loopingStep), { stepBudgetFuel: exact });
    const short = await loadCartridge(await counterVariant(loopingStep), {
      stepBudgetFuel: exact - 1,
    });
    const left = new Set<bigint>();
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
      expect(instance.fuelLeft).toBeLessThan(0n);
      left.add(instance.fuelLeft);
    }
    expect(left.size).toBe(1);
  });

  it("gives a batch one step budget per env, in calls no larger than the cap", async () => {
    const probe = new CartridgeInstance(await loadCartridge(await counterVariant()));
    probe.step(counterState(1, 0), u32s(0));
    const stepFuel = fuelUsed(probe, probe.cartridge.limits.stepBudgetFuel);
    // Room for one step and the batch loop's own work per env, but far less than 16 steps.
    const stepBudgetFuel = 2 * stepFuel + 64;
    const loaded = await loadCartridge(await counterVariant(), {
      stepBudgetFuel,
      callBudgetCapFuel: 4 * stepBudgetFuel,
    });
    const instance = new CartridgeInstance(loaded);
    instance.write(instance.batch.states, new Uint8Array(16 * 8));
    instance.write(instance.batch.actions, new Uint8Array(16 * 4));
    instance.stepBatch(16);
    // Every env was stepped, although the cap allows only four per call.
    const states = new Uint32Array(instance.view(instance.batch.statesOut, 16 * 8).slice().buffer);
    expect(Array.from({ length: 16 }, (_, i) => states[2 * i + 1])).toEqual(Array(16).fill(1));
    expect(instance.rollout(3n, 6, true)).toBeGreaterThan(0);
  });

  it("meters modules using multi-value blocks and tail calls", async () => {
    const m = await metered(`(module
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
      (func $first (param i32 i32) (result i32) (local.get 0)))`);
    const sum = m.exports.sum as (n: number) => number;
    let result = 0;
    // Entry 1; 12 per iteration; after the loop 15 (drop, the if with its arm, the calls at 4);
    // $pair 2 and $first 1, charged on entry.
    expect(m.used(() => (result = sum(4)))).toBe(1 + 4 * 12 + 15 + 2 + 1);
    expect(result).toBe(10);
    expect((m.exports[FuelExport.depth] as () => number)()).toBe(0);
    expect(() => m.used(() => sum(100), 5)).toThrow(WebAssembly.RuntimeError);
    expect(m.fuel()).toBeLessThan(0n);
  });
});
