import { describe, expect, it } from "vitest";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import type { RegistryEvent } from "../../../host/runtime/engine.js";
import { CallError, LoadError } from "../../../host/runtime/errors.js";
import { Registry } from "../../../host/runtime/registry.js";
import { counterBuild, counterVariant, replaceOnce } from "../../fixtures/counter-variants.js";
import { counterState, u32s } from "./engine-helpers.js";

const counter = { envId: "counter-v1" };

/** A registry driven like the replicated manifest drives it: no automatic eviction. */
function manifestRegistry(events: RegistryEvent[] = []): Registry {
  const registry = new Registry({ evictOldBuilds: false, maxBuildsPerEnv: 1 });
  registry.on((event) => events.push(event));
  return registry;
}

describe("Registry driven by a manifest (install, setCurrent, remove)", () => {
  it("installs a build without making it current, then switches to it", async () => {
    const registry = manifestRegistry();
    const engine = new CartridgeEngine(registry);
    const first = await registry.install(await counterBuild(0), "manifest", {
      makeCurrent: false,
    });
    // The first build of an env is current whatever the caller asked.
    expect(registry.resolve(counter).capabilities.buildId).toBe(first.buildId);
    const second = await registry.install(await counterBuild(1), "manifest", {
      makeCurrent: false,
    });
    expect(registry.resolve(counter).capabilities.buildId).toBe(first.buildId);
    expect(engine.step(counter, counterState(0, 0), u32s(0)).state).toEqual(counterState(1, 1));
    registry.setCurrent("counter-v1", second.buildId);
    expect(engine.step(counter, counterState(0, 0), u32s(0)).state).toEqual(counterState(2, 1));
  });

  it("never evicts a build by itself, whatever maxBuildsPerEnv says", async () => {
    const registry = manifestRegistry();
    const ids: string[] = [];
    for (const bonus of [0, 1, 2]) {
      const caps = await registry.install(await counterBuild(bonus), "manifest", {
        makeCurrent: true,
      });
      ids.push(caps.buildId);
    }
    expect(registry.builds("counter-v1").map((c) => c.buildId)).toEqual(ids);
    expect(registry.resolve(counter).capabilities.buildId).toBe(ids[2]);
  });

  it("removes a non-current build, refuses the current one while others exist", async () => {
    const events: RegistryEvent[] = [];
    const registry = manifestRegistry(events);
    const a = await registry.install(await counterBuild(0), "manifest", { makeCurrent: true });
    const b = await registry.install(await counterBuild(1), "manifest", { makeCurrent: true });
    expect(() => registry.remove("counter-v1", b.buildId)).toThrow(CallError);
    expect(registry.remove("counter-v1", a.buildId)).toBe(true);
    expect(registry.remove("counter-v1", a.buildId)).toBe(false);
    expect(() => registry.resolve({ ...counter, buildId: a.buildId })).toThrow(/has no build/);
    expect(events.at(-1)).toEqual({
      kind: "unregistered",
      envId: "counter-v1",
      source: "manifest",
      buildId: a.buildId,
    });
    // The last build takes its env with it.
    expect(registry.remove("counter-v1", b.buildId)).toBe(true);
    expect(registry.list()).toEqual([]);
  });

  it("setCurrent refuses unknown envs and builds with typed errors and changes nothing", async () => {
    const registry = manifestRegistry();
    const a = await registry.install(await counterBuild(0), "manifest", { makeCurrent: true });
    expect(() => registry.setCurrent("nope-v1", a.buildId)).toThrow(
      expect.objectContaining({ code: "UnknownEnv" }),
    );
    expect(() => registry.setCurrent("counter-v1", "f".repeat(64))).toThrow(
      expect.objectContaining({ code: "UnknownBuild" }),
    );
    expect(registry.resolve(counter).capabilities.buildId).toBe(a.buildId);
  });

  it("a bad module throws its LoadError and leaves the registry unchanged", async () => {
    const registry = manifestRegistry();
    const a = await registry.install(await counterBuild(0), "manifest", { makeCurrent: true });
    const broken = await counterVariant((w) => replaceOnce(w, '(export "cartridge_step")', ""));
    await expect(
      registry.install(broken, "manifest", { makeCurrent: true }),
    ).rejects.toBeInstanceOf(LoadError);
    expect(registry.builds("counter-v1").map((c) => c.buildId)).toEqual([a.buildId]);
  });

  it("load then add: a caller can decide between the two whether to add at all", async () => {
    const registry = manifestRegistry();
    const loaded = await registry.load(await counterBuild(0), "manifest");
    expect(registry.list()).toEqual([]);
    registry.add(loaded, { makeCurrent: false });
    expect(registry.list().map((c) => c.buildId)).toEqual([loaded.buildId]);
  });
});
