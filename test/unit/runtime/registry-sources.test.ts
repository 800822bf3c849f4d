import { describe, expect, it } from "vitest";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import { Registry } from "../../../host/runtime/registry.js";
import { counterVariant } from "../../fixtures/counter-variants.js";

const counter = { envId: "counter-v1" };

describe("Registry with one build offered by two files", () => {
  it("a rename: the new name is refused while the old provides the env, then takes it", async () => {
    const registry = new Registry();
    const engine = new CartridgeEngine(registry);
    const bytes = await counterVariant();
    // A rename seen by a watcher as "add new name" before "unlink old name".
    const first = await registry.register(bytes, "old-name.wasm");
    await expect(registry.register(bytes, "new-name.wasm")).rejects.toThrow(/already provides/);
    expect(registry.claimableSources()).toEqual([]);
    expect(registry.unregisterSource("old-name.wasm")).toBe(true);
    // The watcher offers the refused file again once the env is free.
    expect(registry.claimableSources()).toEqual(["new-name.wasm"]);
    const second = await registry.register(bytes, "new-name.wasm");
    expect(second.buildId).toBe(first.buildId);
    expect(second.source).toBe("new-name.wasm");
    expect(engine.reset(counter, 1n).build.buildId).toBe(first.buildId);
    // The file that now provides it does remove it.
    expect(registry.unregisterSource("new-name.wasm")).toBe(true);
    expect(registry.list()).toEqual([]);
  });
});
