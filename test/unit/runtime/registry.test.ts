import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import { loadDirectory } from "../../../host/runtime/directory.js";
import type { RegistryEvent } from "../../../host/runtime/engine.js";
import { CallError, LoadError } from "../../../host/runtime/errors.js";
import { Registry } from "../../../host/runtime/registry.js";
import {
  counterBuild,
  counterVariant,
  editManifest,
  replaceOnce,
  withStepBody,
} from "../../fixtures/counter-variants.js";
import { counterState, u32s } from "./engine-helpers.js";

const counter = { envId: "counter-v1" };

describe("Registry", () => {
  it("keeps older builds pinned by build id while the newest is current", async () => {
    const registry = new Registry();
    const engine = new CartridgeEngine(registry);
    const v0 = await registry.register(await counterBuild(0), "counter.wasm");
    const v1 = await registry.register(await counterBuild(1), "counter.wasm");
    expect(v1.buildId).not.toBe(v0.buildId);
    expect(registry.list().map((c) => c.buildId)).toEqual([v1.buildId]);
    expect(registry.builds("counter-v1").map((c) => c.buildId)).toEqual([v0.buildId, v1.buildId]);
    const step = (buildId?: string) =>
      engine.step({ ...counter, buildId }, counterState(0, 0), u32s(0)).state;
    expect(step()).toEqual(counterState(2, 1));
    expect(step(v1.buildId)).toEqual(counterState(2, 1));
    expect(step(v0.buildId)).toEqual(counterState(1, 1));
    expect(
      engine.step({ ...counter, buildId: "" }, counterState(0, 0), u32s(0)).build.buildId,
    ).toBe(v1.buildId);
  });

  it("bounds how many builds it keeps, never dropping the current one", async () => {
    const registry = new Registry({ maxBuildsPerEnv: 2 });
    const ids: string[] = [];
    for (const bonus of [0, 1, 2]) {
      ids.push((await registry.register(await counterBuild(bonus), "counter.wasm")).buildId);
    }
    expect(registry.builds("counter-v1").map((c) => c.buildId)).toEqual(ids.slice(1));
    expect(() => registry.resolve({ ...counter, buildId: ids[0] })).toThrow(CallError);
    // Re-registering an old build makes it current again.
    await registry.register(await counterBuild(1), "counter.wasm");
    expect(registry.resolve(counter).capabilities.buildId).toBe(ids[1]);
  });

  it("never lets a broken module replace a working build", async () => {
    const registry = new Registry();
    const good = await registry.register(await counterBuild(0), "counter.wasm");
    const broken = await counterVariant((w) => replaceOnce(w, '(export "cartridge_step")', ""));
    await expect(registry.register(broken, "counter.wasm")).rejects.toBeInstanceOf(LoadError);
    await expect(registry.register(new Uint8Array([1, 2, 3]), "counter.wasm")).rejects.toThrow(
      LoadError,
    );
    expect(registry.list()).toEqual([good]);
    expect(new CartridgeEngine(registry).reset(counter, 2n).state).toEqual(counterState(2, 0));
  });

  it("keeps serving the good build after every kind of broken module is offered in its place", async () => {
    const registry = new Registry({ maxModuleBytes: 64 * 1024 });
    const engine = new CartridgeEngine(registry);
    const good = await registry.register(await counterBuild(0), "counter.wasm");
    const valid = await counterBuild(0);
    const broken: [string, Uint8Array][] = [
      ["Compile", new TextEncoder().encode("not wasm")],
      ["Compile", valid.subarray(0, valid.byteLength - 10)],
      ["TooLarge", new Uint8Array(65 * 1024)],
      [
        "MissingExport",
        await counterVariant((w) => replaceOnce(w, '(export "cartridge_reset")', "")),
      ],
      [
        "ForbiddenImport",
        await counterVariant((w) =>
          replaceOnce(
            w,
            '(import "env" "abort"',
            '(import "env" "now" (func (result f64)))\n(import "env" "abort"',
          ),
        ),
      ],
      [
        "AbiVersion",
        await counterVariant((w) =>
          replaceOnce(
            w,
            '"cartridge_abi_version") (result i32) (i32.const 1)',
            '"cartridge_abi_version") (result i32) (i32.const 0)',
          ),
        ),
      ],
      [
        "MemoryLimit",
        await counterVariant((w) =>
          replaceOnce(w, '(memory (export "memory") 1 2)', '(memory (export "memory") 1 1000)'),
        ),
      ],
      ["BadManifest", await counterVariant(editManifest({ state_bytes: 0 }))],
      [
        "Link",
        await counterVariant((w) =>
          replaceOnce(
            w,
            "(global $scratch",
            "(func $boom unreachable)\n(start $boom)\n(global $scratch",
          ),
        ),
      ],
    ];
    for (const [code, bytes] of broken) {
      const error = await registry.register(bytes, "counter.wasm").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LoadError);
      expect((error as LoadError).code).toBe(code);
      expect(registry.list()).toEqual([good]);
      expect(engine.step(counter, counterState(2, 0), u32s(2)).state).toEqual(counterState(5, 1));
    }
  });

  it("unregisters the env a source provided, and emits events for everything", async () => {
    const registry = new Registry();
    const events: RegistryEvent[] = [];
    const off = registry.on((e) => events.push(e));
    const a = await registry.register(await counterBuild(0), "a.wasm");
    const b = await registry.register(await counterBuild(1), "a.wasm");
    await registry.register(await counterBuild(0, "other-v1"), "b.wasm");
    await registry.register(new Uint8Array(8), "c.wasm").catch(() => undefined);
    expect(registry.unregisterSource("a.wasm")).toBe(true);
    expect(registry.unregisterSource("a.wasm")).toBe(false);
    expect(registry.list().map((c) => c.envId)).toEqual(["other-v1"]);
    off();
    await registry.register(await counterBuild(0), "a.wasm");
    expect(events).toEqual([
      { kind: "registered", build: { envId: "counter-v1", buildId: a.buildId }, source: "a.wasm" },
      {
        kind: "registered",
        build: { envId: "counter-v1", buildId: b.buildId },
        source: "a.wasm",
        replaced: a.buildId,
      },
      expect.objectContaining({ kind: "registered", source: "b.wasm" }),
      expect.objectContaining({ kind: "rejected", source: "c.wasm", code: "Compile" }),
      { kind: "unregistered", envId: "counter-v1", source: "a.wasm" },
    ]);
  });

  it("drops the old env when a file starts providing a different env", async () => {
    const registry = new Registry();
    await registry.register(await counterBuild(0), "game.wasm");
    await registry.register(await counterBuild(0, "renamed-v1"), "game.wasm");
    expect(registry.list().map((c) => c.envId)).toEqual(["renamed-v1"]);
  });

  it("reuses instances and replaces a trapped one transparently", async () => {
    const registry = new Registry();
    const engine = new CartridgeEngine(registry);
    const trapOn1 = await counterVariant(
      withStepBody("(if (i32.eq (i32.load (local.get $a_in)) (i32.const 1)) (then unreachable))"),
    );
    await registry.register(trapOn1, "trap.wasm");
    const pool = registry.resolve(counter).pool;
    for (let i = 0; i < 5; i++) engine.step(counter, counterState(0, 0), u32s(0));
    expect(pool.created).toBe(1);
    expect(() => engine.step(counter, counterState(0, 0), u32s(1))).toThrow(CallError);
    for (let i = 0; i < 5; i++) engine.step(counter, counterState(0, 0), u32s(0));
    expect(pool.created).toBe(2);
  });
});

describe("loadDirectory", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("registers every .wasm file and reports the broken ones without throwing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cartridge-dir-"));
    dirs.push(dir);
    await writeFile(join(dir, "counter.wasm"), await counterBuild(0));
    await writeFile(join(dir, "other.wasm"), await counterBuild(0, "other-v1"));
    await writeFile(join(dir, "broken.wasm"), new TextEncoder().encode("not wasm"));
    await writeFile(join(dir, "huge.wasm"), new Uint8Array(8192));
    await writeFile(join(dir, "notes.txt"), "ignored");
    const registry = new Registry({ maxModuleBytes: 4096 });
    const reported: string[] = [];
    const result = await loadDirectory(registry, dir, (source, error) =>
      reported.push(`${source}:${error.code}`),
    );
    expect(result.registered.map((c) => c.envId).sort()).toEqual(["counter-v1", "other-v1"]);
    expect(reported.sort()).toEqual([
      `${join(dir, "broken.wasm")}:Compile`,
      `${join(dir, "huge.wasm")}:TooLarge`,
    ]);
    const huge = await loadDirectory(new Registry({ maxModuleBytes: 1024 }), dir);
    expect(huge.rejected.map((r) => r.error.code).sort()).toEqual([
      "Compile",
      "TooLarge",
      "TooLarge",
      "TooLarge",
    ]);
  });
});
