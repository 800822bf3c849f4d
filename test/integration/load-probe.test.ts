import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { EngineClient } from "../../host/client/index.js";
import { loadDirectory } from "../../host/runtime/directory.js";
import { LoadError } from "../../host/runtime/errors.js";
import type { GuestFacts, ProbeRequest } from "../../host/runtime/guest-facts.js";
import { LoadProbe } from "../../host/runtime/load-probe.js";
import { Registry } from "../../host/runtime/registry.js";
import { watchCartridges } from "../../host/runtime/watch.js";
import { WorkerEngine } from "../../host/runtime/worker-engine.js";
import { startServer } from "../../host/server/server.js";
import { counterVariant } from "../fixtures/counter-variants.js";
import { hostileCartridge, PLAIN_LOOP, renamed, spinningStart } from "../fixtures/hostile.js";
import { eventually } from "./harness.js";

/**
 * A module whose start function spins, dropped into the watched folder of a real server: its
 * load runs in the load probe's worker, so another client keeps getting Step answers while it
 * runs; fuel refuses it (`BudgetExceeded`), or, with a budget fuel never exhausts, the watchdog
 * does (`Timeout`) and the next file loads.
 */

const u32s = (...values: number[]) => new Uint8Array(Uint32Array.from(values).buffer);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A server over a watched folder holding the counter; counts Steps answered during probes.
 * A probe whose watchdog is tight runs at niceness 0: at the default 10, on a machine busy with other
 * processes, the thread is starved long enough for an ordinary module's probe to outlast the
 * watchdog (a benign load then fails with Timeout, which is what a run under load showed).
 */
async function serveFolder(startBudgetFuel: number, watchdogMs?: number) {
  const dir = await mkdtemp(join(tmpdir(), "cartridge-probe-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "counter.wasm"), await counterVariant());
  const probe = new LoadProbe(watchdogMs === undefined ? {} : { watchdogMs, nice: 0 });
  cleanups.push(() => probe.close());
  const answers = { total: 0, duringProbes: 0 };
  let probing = 0;
  const counting = {
    run(request: ProbeRequest): Promise<GuestFacts> {
      probing += 1;
      return probe.run(request).finally(() => {
        probing -= 1;
      });
    },
  };
  const registry = new Registry({ startBudgetFuel, probe: counting });
  await loadDirectory(registry, dir);
  const rejected: { source: string; error: unknown }[] = [];
  const watcher = await watchCartridges(registry, dir, {
    onError: (source, error) => rejected.push({ source, error }),
  });
  cleanups.push(() => watcher.close());
  const engine = new WorkerEngine(registry, { workers: 1 });
  cleanups.push(() => engine.close());
  await engine.ready();
  const server = await startServer({ engine });
  cleanups.push(async () => {
    await server.shutdown(0);
  });
  const client = await EngineClient.connect(server.address);
  cleanups.push(async () => client.close());
  expect(registry.list().map((caps) => caps.envId)).toEqual(["counter-v1"]);

  let stepping = true;
  const stepper = (async () => {
    while (stepping) {
      const t = await client.step("counter-v1", u32s(2, 0), u32s(1));
      expect(t.reward).toBe(2);
      answers.total += 1;
      if (probing > 0) answers.duringProbes += 1;
    }
  })();
  const stopStepping = async () => {
    stepping = false;
    await stepper;
  };
  cleanups.push(stopStepping);
  return { dir, registry, probe, rejected, answers, stopStepping };
}

function refusal(rejected: { source: string; error: unknown }[], file: string): LoadError {
  const entry = rejected.find((r) => r.source.endsWith(file));
  if (!(entry?.error instanceof LoadError)) throw new Error(`${file} was not refused`);
  return entry.error;
}

describe("a hostile start function dropped into the watched folder", () => {
  it("is refused by fuel while another client keeps getting Step answers", async () => {
    const s = await serveFolder(2 ** 30);
    const hostile = await hostileCartridge(renamed("spin-v1"), spinningStart(PLAIN_LOOP));
    await writeFile(join(s.dir, "spin.wasm"), hostile);
    await eventually(() => s.rejected.length > 0, 1500);
    await s.stopStepping();
    expect(refusal(s.rejected, "spin.wasm").code).toBe("BudgetExceeded");
    expect(s.answers.duringProbes).toBeGreaterThan(0);
    expect(s.registry.list().map((caps) => caps.envId)).toEqual(["counter-v1"]);
  });

  it("past the load watchdog is refused with Timeout; the next file loads", async () => {
    const s = await serveFolder(2 ** 40, 1000);
    const hostile = await hostileCartridge(renamed("spin-v1"), spinningStart(PLAIN_LOOP));
    await writeFile(join(s.dir, "spin.wasm"), hostile);
    await eventually(() => s.rejected.length > 0, 1500);
    expect(refusal(s.rejected, "spin.wasm").code).toBe("Timeout");
    expect(s.answers.duringProbes).toBeGreaterThan(0);
    expect(s.probe.replacedWorkers).toBe(1);

    await writeFile(join(s.dir, "other.wasm"), await counterVariant(renamed("other-v1")));
    await eventually(() => s.registry.list().length === 2, 1500);
    await s.stopStepping();
    expect(
      s.registry
        .list()
        .map((caps) => caps.envId)
        .sort(),
    ).toEqual(["counter-v1", "other-v1"]);
  });
});
