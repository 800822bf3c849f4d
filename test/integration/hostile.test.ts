import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { EngineCallError, EngineClient } from "../../host/client/index.js";
import { Registry, type RegistryOptions } from "../../host/runtime/registry.js";
import { WorkerEngine } from "../../host/runtime/worker-engine.js";
import { type RunningServer, startServer } from "../../host/server/server.js";
import { counterVariant } from "../fixtures/counter-variants.js";
import { HOSTILE_STEPS, hostileCartridge, renamed } from "../fixtures/hostile.js";

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
  const engine = new WorkerEngine(registry, { workers: 2, callTimeoutMs, cancelGraceMs: 10 });
  await engine.ready();
  const server = await startServer({ engine });
  const clients = await Promise.all([0, 1].map(() => EngineClient.connect(server.address)));
  running.push({ server, engine, clients });
  return { server, engine, a: clients[0] as EngineClient, b: clients[1] as EngineClient };
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
