import { afterEach, describe, expect, it } from "vitest";
import type { CallError } from "../../../host/runtime/errors.js";
import { Registry } from "../../../host/runtime/registry.js";
import { WorkerEngine } from "../../../host/runtime/worker-engine.js";
import { ServerMetrics } from "../../../host/server/metrics.js";
import { counterBuild } from "../../fixtures/counter-variants.js";
import { counterState, u32s } from "./engine-helpers.js";

/** Workers drop the builds the registry lets go, and the pool reports what it is doing. */

const open: WorkerEngine[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((engine) => engine.close()));
});

const counter = { envId: "counter-v1" };

describe("worker pool builds and metrics", () => {
  it("evicts retired builds from the workers and sends a build again when needed", async () => {
    const registry = new Registry({ maxBuildsPerEnv: 1 });
    const first = await registry.register(await counterBuild(0), "counter.wasm");
    // Every call through a worker, so that the worker holds the build.
    const engine = new WorkerEngine(registry, { workers: 1, inlineSliceFuel: 0 });
    open.push(engine);
    await engine.step(counter, counterState(2, 0), u32s(1));
    expect(engine.evictedBuilds).toBe(0);
    // The reload retires the first build (one kept per env): the worker drops it.
    await registry.register(await counterBuild(1), "counter.wasm");
    expect(engine.evictedBuilds).toBe(1);
    const pinnedOld = await engine
      .step({ ...counter, buildId: first.buildId }, counterState(2, 0), u32s(1))
      .catch((e: unknown) => e);
    expect((pinnedOld as CallError).code).toBe("UnknownBuild");
    const current = await engine.step(counter, counterState(2, 0), u32s(1));
    expect(current.build.buildId).not.toBe(first.buildId);
    // Removing the file retires the current build too; the same bytes again work again.
    registry.unregisterSource("counter.wasm");
    expect(engine.evictedBuilds).toBe(2);
    await registry.register(await counterBuild(1), "counter.wasm");
    const again = await engine.step(counter, counterState(2, 0), u32s(1));
    expect(again).toEqual(current);
  });

  it("reports workers, busy workers, queue depth, replacements and the inline slice", async () => {
    const registry = new Registry();
    await registry.register(await counterBuild(0), "counter.wasm");
    const engine = new WorkerEngine(registry, { workers: 2, inlineSliceFuel: 10_000 });
    open.push(engine);
    await engine.ready();
    await engine.step(counter, counterState(2, 0), u32s(1));
    const metrics = new ServerMetrics({ collectProcessMetrics: false });
    metrics.observeWorkerPool(() => engine.poolUse());
    // Two bulk workers and the unary one.
    expect(await metrics.valueOf("cartridge_workers")).toBe(3);
    expect(await metrics.valueOf("cartridge_workers_unary")).toBe(1);
    expect(await metrics.valueOf("cartridge_workers_busy")).toBe(0);
    expect(await metrics.valueOf("cartridge_worker_queue_depth", { lane: "unary" })).toBe(0);
    expect(await metrics.valueOf("cartridge_workers_replaced")).toBe(0);
    expect(await metrics.valueOf("cartridge_unary_inline_calls")).toBe(1);
    expect(await metrics.valueOf("cartridge_unary_handed_on_calls")).toBe(0);
  });
});
