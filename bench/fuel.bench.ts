/**
 * Fuel calibration: how much wall time one fuel unit takes for different kinds of work, from the
 * friendliest (the bundled games) to the most hostile loop we could write. The defaults in
 * host/runtime/sandbox-options.ts are chosen from these numbers (docs/abi.md, section 7).
 *
 *   npx tsx bench/fuel.bench.ts          (needs build/cartridges: npm run build)
 *
 * Each hostile workload is a module whose `run` loops forever; it runs until a fixed fuel budget
 * traps it, and the bench prints the time per unit and the time the default budgets allow.
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { LoadError } from "../host/runtime/errors.js";
import { FuelExport, instrumentFuel } from "../host/runtime/fuel.js";
import { CartridgeInstance } from "../host/runtime/instance.js";
import { loadCartridge } from "../host/runtime/loader.js";
import { DEFAULT_LIMITS } from "../host/runtime/sandbox-options.js";
import { writeSections } from "../host/runtime/wasm-binary.js";
import { readModuleInfo } from "../host/runtime/wasm-module-info.js";
import {
  bigExchange,
  COPY_LOOP,
  FILL_LOOP,
  HOSTILE_STEPS,
  hostileCartridge,
  PLAIN_LOOP,
  spinModule,
  spinningStart,
} from "../test/fixtures/hostile.js";

const BUDGET = 20_000_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

/** Sixteen MiB of memory holding one pointer cycle through every cache line in random order. */
function pointerChase(memory: WebAssembly.Memory): void {
  const words = new Uint32Array(memory.buffer);
  const lines = memory.buffer.byteLength / 64;
  const order = Array.from({ length: lines }, (_, i) => i);
  let x = 0x9e3779b9;
  for (let i = lines - 1; i > 0; i--) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const j = (x >>> 0) % (i + 1);
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  for (let i = 0; i < lines; i++) {
    const from = order[i] as number;
    const to = order[(i + 1) % lines] as number;
    words[from * 16] = to * 64;
  }
}

interface Workload {
  readonly name: string;
  readonly loop: string;
  readonly pages?: number;
  readonly extra?: string;
  readonly prepare?: (memory: WebAssembly.Memory) => void;
}

const WORKLOADS: Workload[] = [
  {
    name: "add loop",
    loop: "(loop $spin (local.set $k (i32.add (local.get $k) (i32.const 1))) (br $spin))",
  },
  { name: "1000 plain instructions", loop: PLAIN_LOOP },
  { name: "64 KiB memory.fill", loop: FILL_LOOP },
  { name: "64 KiB memory.copy", loop: COPY_LOOP },
  {
    name: "i32 division chain",
    loop: "(loop $spin (local.set $k (i32.add (i32.div_u (i32.const 1000000007) (i32.or (local.get $k) (i32.const 1))) (local.get $k))) (br $spin))",
  },
  {
    name: "i64 division chain",
    loop: "(loop $spin (local.set $k (i32.wrap_i64 (i64.div_u (i64.const 0x7fffffffffffffff) (i64.extend_i32_u (i32.or (local.get $k) (i32.const 1)))))) (br $spin))",
  },
  {
    name: "f64 sqrt chain",
    loop: "(loop $spin (local.set $k (i32.trunc_sat_f64_u (f64.sqrt (f64.convert_i32_u (i32.add (local.get $k) (i32.const 12345)))))) (br $spin))",
  },
  {
    name: "call of an empty function",
    loop: "(loop $spin (call $nop) (br $spin))",
    extra: "(func $nop)",
  },
  {
    name: "call_indirect",
    loop: "(loop $spin (call_indirect (i32.const 0)) (br $spin))",
    extra: "(table 1 funcref) (elem (i32.const 0) $nop) (func $nop)",
  },
  {
    name: "memory.grow 0",
    loop: "(loop $spin (drop (memory.grow (i32.const 0))) (br $spin))",
  },
  {
    name: "pointer chase over 16 MiB",
    loop: "(loop $spin (local.set $k (i32.load (local.get $k))) (br $spin))",
    pages: 256,
    prepare: pointerChase,
  },
];

/** Runs the workload until `budget` units trap it; returns ns per unit (best of the rounds). */
async function measure(workload: Workload, budget: number): Promise<number> {
  const bytes = await spinModule(workload.loop, workload.pages ?? 1, workload.extra ?? "");
  const metered = writeSections(
    instrumentFuel(readModuleInfo(bytes), { initialFuel: 0, maxCallDepth: 1024 }),
  );
  const module = new WebAssembly.Module(metered as Uint8Array<ArrayBuffer>);
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < ROUNDS; round++) {
    const exports = new WebAssembly.Instance(module).exports as Record<string, unknown>;
    workload.prepare?.(exports.memory as WebAssembly.Memory);
    (exports[FuelExport.setFuel] as (fuel: number) => void)(budget);
    const started = process.hrtime.bigint();
    try {
      (exports.run as () => void)();
      throw new Error(`${workload.name} returned`);
    } catch (error) {
      if (!(error instanceof WebAssembly.RuntimeError)) throw error;
    }
    const ns = Number(process.hrtime.bigint() - started);
    const used = budget - Number((exports[FuelExport.fuel] as () => bigint)());
    best = Math.min(best, ns / used);
  }
  return best;
}

/** ns per unit of in-cartridge rollouts of a bundled game. */
async function measureGame(name: string): Promise<{ nsPerUnit: number; unitsPerStep: number }> {
  const path = fileURLToPath(new URL(`../build/cartridges/${name}.wasm`, import.meta.url));
  const loaded = await loadCartridge(new Uint8Array(await readFile(path)));
  const instance = new CartridgeInstance(loaded);
  const cap = Math.min(loaded.manifest.max_horizon, loaded.maxRolloutSteps);
  const budget = Math.min(
    loaded.limits.resetBudgetFuel + loaded.limits.stepBudgetFuel * cap,
    loaded.limits.callBudgetCapFuel,
  );
  let best = Number.POSITIVE_INFINITY;
  let unitsPerStep = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let units = 0;
    let steps = 0;
    const started = process.hrtime.bigint();
    for (let episode = 0; episode < 2000; episode++) {
      steps += instance.rollout(BigInt(episode), cap, true);
      units += budget - Number(instance.fuelLeft);
    }
    const ns = Number(process.hrtime.bigint() - started);
    best = Math.min(best, ns / units);
    unitsPerStep = units / steps;
  }
  return { nsPerUnit: best, unitsPerStep };
}

function row(name: string, nsPerUnit: number, extra = ""): string {
  const capMs = (nsPerUnit * DEFAULT_LIMITS.callBudgetCapFuel) / 1e6;
  const stepMs = (nsPerUnit * DEFAULT_LIMITS.stepBudgetFuel) / 1e6;
  return `  ${name.padEnd(28)} ${nsPerUnit.toFixed(3).padStart(8)} ns/unit  step budget ${stepMs.toFixed(1).padStart(6)} ms  call cap ${capMs.toFixed(1).padStart(6)} ms${extra}`;
}

console.log(
  `fuel calibration (node ${process.version}), best of ${ROUNDS}; defaults: step ${DEFAULT_LIMITS.stepBudgetFuel}, reset ${DEFAULT_LIMITS.resetBudgetFuel}, call cap ${DEFAULT_LIMITS.callBudgetCapFuel}, start ${DEFAULT_LIMITS.startBudgetFuel}`,
);
for (const workload of WORKLOADS) console.log(row(workload.name, await measure(workload, BUDGET)));
for (const game of ["tictactoe-v1", "connect4-v1", "pendulum-v1"]) {
  const { nsPerUnit, unitsPerStep } = await measureGame(game);
  console.log(row(`${game} rollouts`, nsPerUnit, `  (${unitsPerStep.toFixed(0)} units/step)`));
}

/** Wall time of one call that fuel stops, best of the rounds. */
async function timeStopped(call: () => unknown): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < ROUNDS; round++) {
    const started = process.hrtime.bigint();
    try {
      await call();
      throw new Error("the hostile call returned");
    } catch (error) {
      if (error instanceof Error && error.message === "the hostile call returned") throw error;
    }
    best = Math.min(best, Number(process.hrtime.bigint() - started) / 1e6);
  }
  return best;
}

console.log("hostile cartridges of issue 10 under the default budgets (ms until BudgetExceeded):");
const state = new Uint8Array(8);
const action = new Uint8Array(4);
for (const [kind, edit] of Object.entries(HOSTILE_STEPS)) {
  const loaded = await loadCartridge(await hostileCartridge(edit, bigExchange));
  const ms = await timeStopped(() => new CartridgeInstance(loaded).step(state, action));
  console.log(`  step spinning in ${kind.padEnd(22)} ${ms.toFixed(1).padStart(7)} ms`);
}
const big = await loadCartridge(await hostileCartridge(HOSTILE_STEPS.plain, bigExchange));
console.log(
  `  rollout, step cap 2000             ${(await timeStopped(() => new CartridgeInstance(big).rollout(1n, 2000, false))).toFixed(1).padStart(7)} ms`,
);
console.log(
  `  vector step of 2340 envs           ${(
    await timeStopped(() => {
      const instance = new CartridgeInstance(big);
      instance.stepBatch(2340);
    })
  )
    .toFixed(1)
    .padStart(
      7,
    )} ms  (per batch call of ${Math.floor(big.limits.callBudgetCapFuel / big.limits.stepBudgetFuel)} envs)`,
);
const startBytes = await hostileCartridge(spinningStart(PLAIN_LOOP));
const startMs = await timeStopped(async () => {
  try {
    await loadCartridge(startBytes);
  } catch (error) {
    if (error instanceof LoadError && error.code === "BudgetExceeded") throw error;
    throw new Error(`unexpected ${String(error)}`);
  }
});
console.log(
  `  load, start function spinning      ${startMs.toFixed(1).padStart(7)} ms (whole load)`,
);
