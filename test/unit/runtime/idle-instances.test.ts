import { describe, expect, it } from "vitest";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import { LoadError } from "../../../host/runtime/errors.js";
import { IdleInstances } from "../../../host/runtime/idle-instances.js";
import { InstancePool } from "../../../host/runtime/instance-pool.js";
import { loadCartridge } from "../../../host/runtime/loader.js";
import { Registry } from "../../../host/runtime/registry.js";
import { counterVariant, editManifest } from "../../fixtures/counter-variants.js";
import { counterState, u32s } from "./engine-helpers.js";

/**
 * What a registry holds is bounded however many cartridges an author drops in: the idle
 * instances of all its pools by the bytes of their linear memory (evicting the one idle longest),
 * and a folder-driven registry by its number of envs (`TooManyEnvs`).
 */

const PAGE_BYTES = 65_536;
const envIds = ["a-v1", "b-v1", "c-v1", "d-v1"];

async function registryWith(ids: readonly string[], maxIdleInstanceBytes: number) {
  const registry = new Registry({ maxIdleInstanceBytes });
  for (const envId of ids) {
    await registry.register(await counterVariant(editManifest({ env_id: envId })), `${envId}.wasm`);
  }
  return { registry, engine: new CartridgeEngine(registry) };
}

describe("idle instances", () => {
  it("hold at most maxIdleInstanceBytes across every build; the instance idle longest goes first", async () => {
    // The counter has one page of memory: room for two idle instances.
    const { registry, engine } = await registryWith(envIds, 2 * PAGE_BYTES);
    for (const envId of envIds) {
      engine.step({ envId }, counterState(0, 0), u32s(0));
      expect(registry.idle.bytes).toBeLessThanOrEqual(2 * PAGE_BYTES);
    }
    const idle = envIds.map((envId) => registry.resolve({ envId }).pool.idleCount);
    expect(idle).toEqual([0, 0, 1, 1]);
    expect(registry.idle.bytes).toBe(2 * PAGE_BYTES);
    expect(registry.idle.evicted).toBe(2);
    // An evicted build instantiates again on its next call.
    expect(engine.step({ envId: "a-v1" }, counterState(2, 0), u32s(1)).reward).toBe(2);
    expect(registry.resolve({ envId: "a-v1" }).pool.idleCount).toBe(1);
    expect(registry.resolve({ envId: "c-v1" }).pool.idleCount).toBe(0);
  });

  it("give their bytes back when their build goes", async () => {
    const { registry, engine } = await registryWith(envIds.slice(0, 2), 16 * PAGE_BYTES);
    for (const envId of envIds.slice(0, 2)) engine.step({ envId }, counterState(0, 0), u32s(0));
    expect(registry.idle.bytes).toBe(2 * PAGE_BYTES);
    registry.unregisterSource("a-v1.wasm");
    expect(registry.idle.bytes).toBe(PAGE_BYTES);
  });
});

describe("pools sharing one budget, as a worker's builds do", () => {
  it("keep no instance larger than the cap, and closing a pool gives its bytes back", async () => {
    const cartridge = await loadCartridge(await counterVariant());
    const idle = new IdleInstances(PAGE_BYTES / 2);
    const tooBig = new InstancePool(cartridge, 4, idle);
    tooBig.release(tooBig.acquire());
    expect([tooBig.idleCount, idle.bytes, idle.evicted]).toEqual([0, 0, 1]);

    const shared = new IdleInstances(4 * PAGE_BYTES);
    const pools = [0, 1].map(() => new InstancePool(cartridge, 4, shared));
    for (const pool of pools) {
      const held = [pool.acquire(), pool.acquire(), pool.acquire()];
      for (const instance of held) pool.release(instance);
    }
    // Six released, four fit: the first pool's two idle longest went.
    expect(pools.map((pool) => pool.idleCount)).toEqual([1, 3]);
    expect(shared.bytes).toBe(4 * PAGE_BYTES);
    pools[1]?.close();
    expect(shared.bytes).toBe(PAGE_BYTES);
    // A pool reuses its idle instance before making one.
    const pool = pools[0] as InstancePool;
    const created = pool.created;
    pool.release(pool.acquire());
    expect(pool.created).toBe(created);
  });
});

describe("a folder-driven registry's envs", () => {
  it("are at most maxEnvs: one more is refused with TooManyEnvs and changes nothing", async () => {
    const registry = new Registry({ maxEnvs: 2 });
    const module = (envId: string) => counterVariant(editManifest({ env_id: envId }));
    await registry.register(await module("a-v1"), "a.wasm");
    await registry.register(await module("b-v1"), "b.wasm");
    const error = await registry.register(await module("c-v1"), "c.wasm").then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(LoadError);
    expect((error as LoadError).code).toBe("TooManyEnvs");
    expect((error as LoadError).message).toContain("c.wasm");
    expect(registry.list().map((caps) => caps.envId)).toEqual(["a-v1", "b-v1"]);
    // A new build of a served env is not a new env; a freed slot takes the next.
    await registry.register(await module("b-v1"), "b.wasm");
    registry.unregisterSource("a.wasm");
    await registry.register(await module("c-v1"), "c.wasm");
    expect(registry.list().map((caps) => caps.envId)).toEqual(["b-v1", "c-v1"]);
  });
});
