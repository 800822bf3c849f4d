import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { EngineCallError, EngineClient } from "../../host/client/index.js";
import { LoadError } from "../../host/runtime/errors.js";
import { LoadProbe } from "../../host/runtime/load-probe.js";
import { Registry, type RegistryOptions } from "../../host/runtime/registry.js";
import { watchCartridges } from "../../host/runtime/watch.js";
import { WorkerEngine } from "../../host/runtime/worker-engine.js";
import { type RunningServer, startServer } from "../../host/server/server.js";
import { counterVariant } from "../fixtures/counter-variants.js";
import {
  bigExchange,
  HOSTILE_STEPS,
  hostileCartridge,
  PLAIN_LOOP,
  renamed,
  spinningStart,
} from "../fixtures/hostile.js";

/**
 * Hostile cartridges against a real server whose guest code runs in worker threads: a call that
 * fuel or the client's deadline stops fails alone, other clients are served meanwhile, the next
 * call works, and shutdown finishes with a runaway call in flight.
 */

const u32s = (...values: number[]) => new Uint8Array(Uint32Array.from(values).buffer);
const counterState = (value: number) => u32s(value, 0);

interface Running {
  readonly server: RunningServer;
  readonly engine: WorkerEngine;
  readonly clients: EngineClient[];
}
const running: Running[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    for (const c of r.clients) c.close();
    await r.server.shutdown(0);
    await r.engine.close();
  }
});

async function serve(options: RegistryOptions, callTimeoutMs = 60_000) {
  const registry = new Registry(options);
  await registry.register(await counterVariant(), "counter.wasm");
  for (const kind of Object.keys(HOSTILE_STEPS) as (keyof typeof HOSTILE_STEPS)[]) {
    const bytes = await hostileCartridge(renamed(`${kind}-v1`), HOSTILE_STEPS[kind]);
    await registry.register(bytes, `${kind}.wasm`);
  }
  const big = await hostileCartridge(renamed("big-v1"), (w) => HOSTILE_STEPS.plain(bigExchange(w)));
  await registry.register(big, "big.wasm");
  const engine = new WorkerEngine(registry, { workers: 2, callTimeoutMs, cancelGraceMs: 10 });
  await engine.ready();
  const server = await startServer({ engine });
  const clients = await Promise.all([0, 1].map(() => EngineClient.connect(server.address)));
  running.push({ server, engine, clients });
  return {
    registry,
    server,
    engine,
    a: clients[0] as EngineClient,
    b: clients[1] as EngineClient,
  };
}

/** Client `b` steps the good counter back to back until stopped, counting completed calls. */
function startStepping(b: EngineClient) {
  let stopped = false;
  let completed = 0;
  const loop = (async () => {
    while (!stopped) {
      const t = await b.step("counter-v1", counterState(0), u32s(0));
      expect(t.reward).toBe(1);
      completed += 1;
    }
  })();
  return {
    completed: () => completed,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** Runs `hostile` while `stepper` steps; returns the calls the stepper completed meanwhile. */
async function progressDuring(
  stepper: ReturnType<typeof startStepping>,
  hostile: () => Promise<unknown>,
): Promise<number> {
  await expect.poll(stepper.completed).toBeGreaterThan(0);
  const before = stepper.completed();
  await hostile();
  return stepper.completed() - before;
}

/** Drains a BatchSimulate call; resolves with its typed failure. */
function batchFailure(chunks: AsyncIterable<unknown>): Promise<EngineCallError> {
  return callFailure(
    (async () => {
      for await (const _ of chunks) {
        // Drained only to run the call.
      }
    })(),
  );
}

async function callFailure(call: Promise<unknown>): Promise<EngineCallError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof EngineCallError) return error;
    throw error;
  }
  throw new Error("the call succeeded");
}

describe("hostile cartridges over gRPC", () => {
  it("each is stopped by fuel (RESOURCE_EXHAUSTED, BudgetExceeded); the next call works", async () => {
    const { a } = await serve({});
    for (const kind of Object.keys(HOSTILE_STEPS)) {
      const error = await callFailure(a.step(`${kind}-v1`, counterState(1), u32s(0)));
      expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(error.errorCode).toBe("BudgetExceeded");
      const next = await a.step("counter-v1", counterState(2), u32s(1));
      expect(next.reward).toBe(2);
    }
  });

  it("a runaway call stopped by its client's deadline frees its worker; others are served meanwhile", async () => {
    // Budgets far beyond the deadline: only the deadline (through cancellation) can stop it.
    const { engine, a, b } = await serve({ stepBudgetFuel: 2 ** 40, callBudgetCapFuel: 2 ** 40 });
    let settled = false;
    const runaway = callFailure(
      a.step("plain-v1", counterState(1), u32s(0), { timeoutMs: 5000 }),
    ).finally(() => {
      settled = true;
    });
    for (let i = 0; i < 20; i++) {
      const t = await b.step("counter-v1", counterState(0), u32s(0));
      expect(t.reward).toBe(1);
    }
    expect(settled).toBe(false);
    const error = await runaway;
    expect(error.code).toBe(status.DEADLINE_EXCEEDED);
    // The server saw the cancellation and replaced the worker stuck in the call.
    await expect.poll(() => engine.replacedWorkers).toBe(1);
    const next = await a.step("counter-v1", counterState(2), u32s(1));
    expect(next.reward).toBe(2);
  });

  it("shuts down within its grace period with a runaway call in flight", async () => {
    const { server, engine, a } = await serve({
      stepBudgetFuel: 2 ** 40,
      callBudgetCapFuel: 2 ** 40,
    });
    const runaway = callFailure(a.step("plain-v1", counterState(1), u32s(0)));
    await expect.poll(() => engine.runningCalls).toBe(1);
    const result = await server.shutdown(200);
    expect(result.forced).toBe(true);
    await engine.close();
    expect((await runaway).code).toBe(status.CANCELLED);
  });
});

/**
 * The six hostile shapes of issue 10, each over gRPC while another client steps: every one is
 * stopped by fuel with a typed error, the other client completes calls while it runs, and the next
 * call works. The budgets are raised far above the defaults (under which each is stopped within a
 * few ms, docs/abi.md section 7, test/unit/runtime/hostile.test.ts) so that each hostile call runs
 * long enough for "meanwhile" to mean something; the call watchdog (60 s) stays out of the way.
 * 4e9 units run for about a second on the 2-core machine (0.1 to 0.3 s at 1e9 was too short: on a
 * busy machine one of the other client's round trips can take as long, and a run saw no progress).
 */
describe("the six hostile shapes over gRPC, while another client steps", () => {
  const budgets: RegistryOptions = {
    stepBudgetFuel: 4e9,
    callBudgetCapFuel: 4e9,
    startBudgetFuel: 4e9,
  };

  const expectBudgetExceeded = (error: EngineCallError) => {
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error.errorCode).toBe("BudgetExceeded");
  };

  it("steps looping on a 64 KiB fill, a 64 KiB copy and 1,000 plain instructions", async () => {
    const { a, b } = await serve(budgets);
    const stepper = startStepping(b);
    try {
      for (const kind of Object.keys(HOSTILE_STEPS)) {
        let error: EngineCallError | undefined;
        const progress = await progressDuring(stepper, async () => {
          error = await callFailure(a.step(`${kind}-v1`, counterState(1), u32s(0)));
        });
        expectBudgetExceeded(error as EngineCallError);
        expect(progress, kind).toBeGreaterThan(0);
        expect((await a.step("counter-v1", counterState(2), u32s(1))).reward).toBe(2);
      }
    } finally {
      await stepper.stop();
    }
  });

  it("a rollout episode with a step cap of 2,000 and a vector step of 2,340 envs", async () => {
    const { a, b } = await serve(budgets);
    const stepper = startStepping(b);
    try {
      let rollout: EngineCallError | undefined;
      const duringRollout = await progressDuring(stepper, async () => {
        rollout = await batchFailure(
          a.batchSimulate({
            envId: "big-v1",
            rollouts: { seed: 1, episodes: 1, stepCap: 2000, includeObs: false },
          }),
        );
      });
      expectBudgetExceeded(rollout as EngineCallError);
      expect(duringRollout).toBeGreaterThan(0);
      expect((await a.step("counter-v1", counterState(2), u32s(1))).reward).toBe(2);

      const envs = 2340;
      let vector: EngineCallError | undefined;
      const duringVector = await progressDuring(stepper, async () => {
        vector = await batchFailure(
          a.batchSimulate({
            envId: "big-v1",
            vector: { states: new Uint8Array(envs * 8), actions: new Uint8Array(envs * 4) },
          }),
        );
      });
      expectBudgetExceeded(vector as EngineCallError);
      expect(duringVector).toBeGreaterThan(0);
      expect((await a.step("counter-v1", counterState(2), u32s(1))).reward).toBe(2);
    } finally {
      await stepper.stop();
    }
  });

  it("a module whose start function loops, dropped into the watched folder", async () => {
    // The start function runs in the load probe's worker, off the event loop, so its budget is
    // raised like the others' (under the default it is stopped within ms, docs/abi.md section 7),
    // and the probe's wall-clock watchdog is moved out of the way as the calls' is: on a busy
    // machine 4e9 units can outlast the default 5 s, and then the watchdog, not fuel, would stop it.
    const probe = new LoadProbe({ watchdogMs: 60_000 });
    const { registry, a, b } = await serve({ ...budgets, probe });
    const dir = await mkdtemp(join(tmpdir(), "cartridge-hostile-"));
    const refused: { source: string; error: unknown }[] = [];
    let onRefused: () => void = () => undefined;
    // Resolves at the refusal however long the probe takes (a poll would give up after 1 s).
    const firstRefusal = new Promise<void>((resolve) => {
      onRefused = resolve;
    });
    const watcher = await watchCartridges(registry, dir, {
      onError: (source, error) => {
        refused.push({ source, error });
        onRefused();
      },
    });
    const stepper = startStepping(b);
    try {
      const progress = await progressDuring(stepper, async () => {
        const bytes = await hostileCartridge(renamed("start-v1"), spinningStart(PLAIN_LOOP));
        await writeFile(join(dir, "start.wasm"), bytes);
        await firstRefusal;
        await watcher.settled();
      });
      const error = refused[0]?.error;
      expect(refused).toHaveLength(1);
      expect(error).toBeInstanceOf(LoadError);
      expect((error as LoadError).code).toBe("BudgetExceeded");
      expect(progress).toBeGreaterThan(0);
      expect(registry.list().map((caps) => caps.envId)).not.toContain("start-v1");
      expect((await a.step("counter-v1", counterState(2), u32s(1))).reward).toBe(2);
    } finally {
      await stepper.stop();
      await watcher.close();
      await probe.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
