/**
 * Load benchmark (issue 10): how long the event loop stalls while a module whose start function
 * spins is loaded, with the guest half of loading in the load probe's worker (load-probe.ts)
 * against the same run inline on the main thread (the old path), interleaved in one run. The
 * figure is the event loop's largest delay (perf_hooks `monitorEventLoopDelay`), which is what
 * every other client of the server waits; the process CPU time per load is printed beside it.
 *
 *   npx tsx bench/load.bench.ts             (BENCH_START_FUEL, default 2^30; BENCH_LOADS, 6)
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { LoadError } from "../host/runtime/errors.js";
import { probeModule } from "../host/runtime/guest-facts.js";
import { LoadProbe } from "../host/runtime/load-probe.js";
import { type GuestProber, loadCartridge } from "../host/runtime/loader.js";
import { addTopLevel, counterVariant } from "../test/fixtures/counter-variants.js";
import { hostileCartridge, PLAIN_LOOP, spinningStart } from "../test/fixtures/hostile.js";

const START_FUEL = Number(process.env.BENCH_START_FUEL ?? 2 ** 30);
const LOADS = Number(process.env.BENCH_LOADS ?? 6);

/** The old path: the guest half of loading on the caller's thread. */
const inline: GuestProber = { run: async (request) => probeModule(request) };

/**
 * Hostile modules that differ in one global (which survives metering, unlike a custom section),
 * so that each load is a module V8 has not compiled before, as an attacker's upload is: V8 reuses
 * and tiers up the code it compiled for identical bytes, which runs the spin several times faster
 * than a first load does.
 */
function hostileModules(count: number): Promise<Uint8Array[]> {
  return Promise.all(
    Array.from({ length: count }, (_, n) =>
      hostileCartridge(
        spinningStart(PLAIN_LOOP),
        addTopLevel(`(global $variant (export "variant") i32 (i32.const ${n}))`),
      ),
    ),
  );
}

interface Sample {
  readonly maxDelayMs: number;
  readonly cpuMs: number;
}

/** One load of `bytes` through `probe`, refused by fuel; the event loop's worst delay meanwhile. */
async function measure(bytes: Uint8Array, probe: GuestProber): Promise<Sample> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  // The histogram's first tick only sets its baseline: a stall before it goes unrecorded.
  await new Promise((resolve) => setTimeout(resolve, 10));
  const cpu = process.cpuUsage();
  try {
    await loadCartridge(bytes, { startBudgetFuel: START_FUEL, probe });
    throw new Error("the hostile module loaded");
  } catch (error) {
    if (!(error instanceof LoadError) || error.code !== "BudgetExceeded") throw error;
  }
  const used = process.cpuUsage(cpu);
  // One more turn, so that the histogram records the delay of the turn the load blocked.
  await new Promise((resolve) => setTimeout(resolve, 5));
  histogram.disable();
  return { maxDelayMs: histogram.max / 1e6, cpuMs: (used.user + used.system) / 1000 };
}

function summary(samples: readonly Sample[]): string {
  const delays = samples.map((s) => s.maxDelayMs).sort((a, b) => a - b);
  const cpu = samples.reduce((sum, s) => sum + s.cpuMs, 0) / samples.length;
  const median = delays[Math.floor(delays.length / 2)] ?? 0;
  return `max delay median ${median.toFixed(1).padStart(6)} ms, range ${delays[0]?.toFixed(1)}–${delays.at(-1)?.toFixed(1)} ms; process CPU ${cpu.toFixed(0)} ms/load`;
}

export async function runLoadBench(): Promise<void> {
  const hostile = await hostileModules(2 * LOADS + 1);
  const probe = new LoadProbe();
  try {
    // Start the probe's worker (and compile code paths) before measuring.
    await loadCartridge(await counterVariant(), { probe });
    let n = 0;
    const next = () => hostile[n++] as Uint8Array;
    await measure(next(), inline);
    const inlineSamples: Sample[] = [];
    const probeSamples: Sample[] = [];
    for (let i = 0; i < LOADS; i++) {
      inlineSamples.push(await measure(next(), inline));
      probeSamples.push(await measure(next(), probe));
    }
    console.log(
      `load of a module whose start function spins, ${START_FUEL} start fuel, ${LOADS} loads each`,
    );
    console.log(`  inline (old path)  ${summary(inlineSamples)}`);
    console.log(`  load probe worker  ${summary(probeSamples)}`);
    const median = (samples: Sample[]) =>
      samples.map((s) => s.maxDelayMs).sort((a, b) => a - b)[Math.floor(samples.length / 2)] ?? 0;
    console.log(
      `  event-loop max delay, inline / probe: ${(median(inlineSamples) / median(probeSamples)).toFixed(1)}x`,
    );
  } finally {
    await probe.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runLoadBench();
