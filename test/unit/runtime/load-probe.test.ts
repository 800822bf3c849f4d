import { afterEach, describe, expect, it } from "vitest";
import { LoadError } from "../../../host/runtime/errors.js";
import type { GuestFacts, ProbeRequest } from "../../../host/runtime/guest-facts.js";
import { LoadProbe } from "../../../host/runtime/load-probe.js";
import { loadCartridge } from "../../../host/runtime/loader.js";
import { counterManifest, counterVariant } from "../../fixtures/counter-variants.js";
import { hostileCartridge, PLAIN_LOOP, spinningStart } from "../../fixtures/hostile.js";

/**
 * The load probe (load-probe.ts): the start function and constant exports of a module being
 * loaded run on a worker thread, so the event loop keeps turning while a hostile start function
 * burns its budget; fuel decides (`BudgetExceeded`), the watchdog is only the backstop
 * (`Timeout`, the worker replaced, the next load served).
 */

/** A start-function budget large enough that the spin lasts many turns of the event loop. */
const LONG_START_FUEL = 2 ** 30;
/** A budget the spin never exhausts in the life of a test: only the watchdog stops it. */
const ENDLESS_START_FUEL = 2 ** 40;

const probes: LoadProbe[] = [];
/**
 * A probe for the test; with a watchdog, at niceness 0 (see test/integration/load-probe.test.ts).
 */
function probeWith(watchdogMs?: number): LoadProbe {
  const probe = new LoadProbe(watchdogMs === undefined ? {} : { watchdogMs, nice: 0 });
  probes.push(probe);
  return probe;
}
afterEach(async () => {
  await Promise.all(probes.splice(0).map((probe) => probe.close()));
});

async function loadFailure(promise: Promise<unknown>): Promise<LoadError> {
  const outcome = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(outcome instanceof LoadError)) throw new Error(`expected a LoadError, got ${outcome}`);
  return outcome;
}

/**
 * Turns of the event loop (setImmediate callbacks) counted while `probe` runs one request: an
 * event loop blocked by the guest counts none.
 */
function countingTurns(probe: LoadProbe): { run: LoadProbe["run"]; turns: () => number } {
  let turns = 0;
  return {
    turns: () => turns,
    run(request: ProbeRequest): Promise<GuestFacts> {
      let running = true;
      const turn = () => {
        if (!running) return;
        turns += 1;
        setImmediate(turn);
      };
      setImmediate(turn);
      return probe.run(request).finally(() => {
        running = false;
      });
    },
  };
}

describe("LoadProbe", () => {
  it("stops a spinning start function by fuel while the event loop keeps turning", async () => {
    const bytes = await hostileCartridge(spinningStart(PLAIN_LOOP));
    const counting = countingTurns(probeWith());
    const error = await loadFailure(
      loadCartridge(bytes, {
        source: "spin.wasm",
        startBudgetFuel: LONG_START_FUEL,
        probe: counting,
      }),
    );
    expect(error.code).toBe("BudgetExceeded");
    expect(error.source).toBe("spin.wasm");
    expect(error.message).toMatch(/^spin\.wasm: /);
    // Thousands in practice; an event loop that ran the guest itself would count none.
    expect(counting.turns()).toBeGreaterThan(10);
  });

  it("loads a good module with the same facts, one probe after another, on one worker", async () => {
    const probe = probeWith();
    const bytes = await counterVariant();
    const loaded = await Promise.all(
      ["a.wasm", "b.wasm", "c.wasm"].map((source) => loadCartridge(bytes, { source, probe })),
    );
    for (const cartridge of loaded) {
      expect(cartridge.manifest).toEqual(counterManifest());
      expect(cartridge.exchange).toEqual({ ptr: 4096, len: 32768 });
    }
    expect(loaded.map((c) => c.source)).toEqual(["a.wasm", "b.wasm", "c.wasm"]);
    expect(probe.replacedWorkers).toBe(0);
  });

  it("fails a probe past its watchdog with Timeout, replaces the worker and serves the next load", async () => {
    const probe = probeWith(1000);
    const hostile = await hostileCartridge(spinningStart(PLAIN_LOOP));
    const error = await loadFailure(
      loadCartridge(hostile, {
        source: "endless.wasm",
        startBudgetFuel: ENDLESS_START_FUEL,
        probe,
      }),
    );
    expect(error.code).toBe("Timeout");
    expect(error.source).toBe("endless.wasm");
    expect(error.message).toContain("1000 ms load watchdog");
    expect(probe.replacedWorkers).toBe(1);

    const loaded = await loadCartridge(await counterVariant(), { source: "next.wasm", probe });
    expect(loaded.manifest.env_id).toBe(counterManifest().env_id);
    expect(probe.replacedWorkers).toBe(1);
  });

  it("fails the probes queued behind a runaway only by their own verdicts", async () => {
    const probe = probeWith(1000);
    const hostile = await hostileCartridge(spinningStart(PLAIN_LOOP));
    const good = await counterVariant();
    const [runaway, queued] = await Promise.allSettled([
      loadCartridge(hostile, {
        source: "endless.wasm",
        startBudgetFuel: ENDLESS_START_FUEL,
        probe,
      }),
      loadCartridge(good, { source: "good.wasm", probe }),
    ]);
    expect(runaway.status === "rejected" && (runaway.reason as LoadError).code).toBe("Timeout");
    expect(queued.status === "fulfilled" && queued.value.source).toBe("good.wasm");
  });

  it("refuses to start with a watchdog that is not a positive integer", () => {
    expect(() => new LoadProbe({ watchdogMs: 0 })).toThrow(RangeError);
    expect(() => new LoadProbe({ nice: 20 })).toThrow(RangeError);
  });
});
