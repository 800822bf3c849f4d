import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { EngineCallError, EngineClient } from "../../host/client/index.js";
import { Registry } from "../../host/runtime/registry.js";
import { WorkerEngine } from "../../host/runtime/worker-engine.js";
import { type RunningServer, startServer } from "../../host/server/server.js";
import { counterVariant } from "../fixtures/counter-variants.js";
import { HOSTILE_STEPS, hostileCartridge, renamed } from "../fixtures/hostile.js";

/**
 * Reset and Step calls waiting for or running guest code are bounded in total and per client
 * address (ServerLimits.maxGuestCalls, maxGuestCallsPerClient): a client flooding unary calls
 * is refused with RESOURCE_EXHAUSTED (`LimitExceeded`) instead of growing the worker pool's queue
 * without bound, and other clients keep their share. The two clients are told apart by address:
 * IPv4 loopback and IPv6 loopback, on a dual-stack server.
 */

const u32s = (...values: number[]) => new Uint8Array(Uint32Array.from(values).buffer);
const counterState = (value: number) => u32s(value, 0);

let server: RunningServer | undefined;
let engine: WorkerEngine | undefined;
const clients: EngineClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.shutdown(0);
  await engine?.close();
});

async function failure(call: Promise<unknown>): Promise<EngineCallError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof EngineCallError) return error;
    throw error;
  }
  throw new Error("the call succeeded");
}

async function serve() {
  // Runaway steps: budgets far beyond the deadlines, so only a deadline ends them.
  const registry = new Registry({ stepBudgetFuel: 2 ** 40, callBudgetCapFuel: 2 ** 40 });
  await registry.register(await counterVariant(), "counter.wasm");
  await registry.register(
    await hostileCartridge(renamed("spin-v1"), HOSTILE_STEPS.plain),
    "spin.wasm",
  );
  engine = new WorkerEngine(registry, { workers: 1, callTimeoutMs: 60_000, cancelGraceMs: 10 });
  await engine.ready();
  server = await startServer({
    engine,
    host: "::",
    limits: { maxGuestCalls: 3, maxGuestCallsPerClient: 2 },
  });
  const port = server.address.slice(server.address.lastIndexOf(":") + 1);
  const [v4, v6] = await Promise.all([
    EngineClient.connect(`127.0.0.1:${port}`),
    EngineClient.connect(`[::1]:${port}`),
  ]);
  clients.push(v4 as EngineClient, v6 as EngineClient);
  return { a: v4 as EngineClient, b: v6 as EngineClient, pool: engine };
}

describe("Reset and Step calls in progress", () => {
  it("are bounded per client address and in total; the refused get LimitExceeded at once", async () => {
    const { a, b, pool } = await serve();
    const held = () => {
      const use = pool.poolUse();
      return use.busy + use.queuedUnary;
    };
    // Client A takes its two slots with calls that only their deadline ends.
    const runaways = [0, 1].map(() =>
      failure(a.step("spin-v1", counterState(1), u32s(0), { timeoutMs: 3000 })),
    );
    await expect.poll(held).toBe(2);
    const perClient = await failure(a.step("counter-v1", counterState(1), u32s(0)));
    expect(perClient.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(perClient.errorCode).toBe("LimitExceeded");
    expect(perClient.message).toContain("from your address");
    const refusedReset = await failure(a.reset("counter-v1", 1n));
    expect(refusedReset.errorCode).toBe("LimitExceeded");
    // An env that does not exist is NOT_FOUND even then (and its id never labels a metric).
    const unknown = await failure(a.step("no-such-env-v1", counterState(1), u32s(0)));
    expect(unknown.code).toBe(status.NOT_FOUND);

    // Client B still gets a slot: its call waits for the worker instead of being refused...
    const waiting = b.step("counter-v1", counterState(2), u32s(1));
    await expect.poll(held).toBe(3);
    // ...and the total is now reached, for B too.
    const total = await failure(b.step("counter-v1", counterState(1), u32s(0)));
    expect(total.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(total.errorCode).toBe("LimitExceeded");
    expect(total.message).toContain("(the limit)");

    for (const runaway of runaways) expect((await runaway).code).toBe(status.DEADLINE_EXCEEDED);
    expect((await waiting).reward).toBe(2);
    // The slots came back: A is served again.
    expect((await a.step("counter-v1", counterState(2), u32s(1))).reward).toBe(2);
    expect((await a.reset("counter-v1", 1n)).state.length).toBe(8);
  });
});
