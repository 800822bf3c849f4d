import { describe, expect, it } from "vitest";
import { MANIFEST_LIMITS } from "../../../host/replication/limits.js";
import { counterVariant, replaceOnce } from "../../fixtures/counter-variants.js";
import { build, installOf, Replica, sha256 } from "./manifest-helpers.js";

describe("ManifestPart over a real registry", () => {
  it("installs a build on apply, records who deployed it, and registers it", async () => {
    const replica = new Replica();
    const bytes = await build(0);
    const result = await replica.ok(installOf(bytes));
    expect(result).toEqual({
      op: "install",
      build: {
        envId: "counter-v1",
        buildId: sha256(bytes),
        current: true,
        installedIndex: 1,
        deployedBy: "alice",
        sizeBytes: bytes.length,
      },
      created: true,
      retired: [],
    });
    expect(replica.registryView()).toEqual({ builds: [sha256(bytes)], current: sha256(bytes) });
    expect(replica.manifest.listBuilds()).toEqual([result.op === "install" && result.build]);
    expect(replica.registry.resolve({ envId: "counter-v1" }).cartridge.source).toBe("manifest");
  });

  it("is idempotent: the same bytes again return the existing build", async () => {
    const replica = new Replica();
    const bytes = await build(0);
    await replica.ok(installOf(bytes));
    const again = await replica.ok(installOf(bytes, { deployedBy: "bob" }));
    expect(again).toMatchObject({
      created: false,
      build: { installedIndex: 1, deployedBy: "alice" },
    });
    expect(replica.manifest.listBuilds()).toHaveLength(1);
  });

  it("installs without making current, then setCurrent switches manifest and registry", async () => {
    const replica = new Replica();
    const [a, b] = [await build(0), await build(1)];
    await replica.ok(installOf(a));
    await replica.ok(installOf(b, { makeCurrent: false }));
    expect(replica.manifest.currentBuild("counter-v1")).toBe(sha256(a));
    expect(replica.registryView().current).toBe(sha256(a));
    const switched = await replica.ok({
      op: "setCurrent",
      envId: "counter-v1",
      buildId: sha256(b),
    });
    expect(switched).toMatchObject({ previousBuildId: sha256(a), build: { current: true } });
    expect(replica.registryView()).toEqual({
      builds: [sha256(a), sha256(b)].sort(),
      current: sha256(b),
    });
  });

  it("rejects bad installs with typed codes and changes nothing", async () => {
    const replica = new Replica();
    const good = await build(0);
    await replica.ok(installOf(good));
    const other = await build(1);
    // The bytes do not hash to the id the command names.
    expect(await replica.run(installOf(other, { sha256: sha256(good) }))).toMatchObject({
      ok: false,
      code: "BadArgument",
    });
    // A module of another env under this env id.
    const foreign = await build(0, "other-v1");
    expect(await replica.run(installOf(foreign))).toMatchObject({
      ok: false,
      code: "BadModule",
      message: expect.stringContaining('declares env "other-v1"'),
    });
    // A module the loader refuses: the loader's code is in the message.
    const broken = await counterVariant((w) => replaceOnce(w, '(export "cartridge_step")', ""));
    expect(await replica.run(installOf(broken))).toMatchObject({
      ok: false,
      code: "BadModule",
      message: expect.stringMatching(/^MissingExport: .*cartridge_step/),
    });
    expect(replica.manifest.listBuilds().map((b) => b.buildId)).toEqual([sha256(good)]);
    expect(replica.registryView()).toEqual({ builds: [sha256(good)], current: sha256(good) });
    expect(replica.registry.list().map((c) => c.envId)).toEqual(["counter-v1"]);
  });

  it("retires only builds that are neither current nor pinned", async () => {
    const replica = new Replica();
    const [a, b, c] = [await build(0), await build(1), await build(2)];
    for (const bytes of [a, b, c]) await replica.ok(installOf(bytes));
    const retire = (bytes: Uint8Array) =>
      replica.run({ op: "retire", envId: "counter-v1", buildId: sha256(bytes) });
    expect(await retire(c)).toMatchObject({ ok: false, code: "InUse", message: /current build/ });
    replica.pins.add(sha256(a));
    expect(await retire(a)).toMatchObject({ ok: false, code: "InUse", message: /pinned/ });
    expect(await retire(b)).toMatchObject({ ok: true });
    expect(await retire(b)).toMatchObject({ ok: false, code: "NotFound" });
    expect(await replica.run({ op: "retire", envId: "nope-v1", buildId: sha256(b) })).toMatchObject(
      { ok: false, code: "NotFound" },
    );
    expect(replica.registryView().builds).toEqual([sha256(a), sha256(c)].sort());
  });

  it("enforces the per-env allow-list at install and setCurrent", async () => {
    const replica = new Replica();
    const [a, b] = [await build(0), await build(1)];
    await replica.ok(installOf(a));
    await replica.ok({ op: "allow", envId: "counter-v1", sha256s: [sha256(a)] });
    expect(await replica.run(installOf(b))).toMatchObject({ ok: false, code: "NotAllowed" });
    expect(replica.registryView().builds).toEqual([sha256(a)]);
    await replica.ok({ op: "allow", envId: "counter-v1", sha256s: [sha256(b), sha256(a)] });
    expect(replica.manifest.allowList("counter-v1")).toEqual([sha256(a), sha256(b)].sort());
    await replica.ok(installOf(b, { makeCurrent: false }));
    await replica.ok({ op: "allow", envId: "counter-v1", sha256s: [sha256(a)] });
    expect(
      await replica.run({ op: "setCurrent", envId: "counter-v1", buildId: sha256(b) }),
    ).toMatchObject({ ok: false, code: "NotAllowed" });
    // An empty list allows any build again.
    await replica.ok({ op: "allow", envId: "counter-v1", sha256s: [] });
    expect(replica.manifest.allowList("counter-v1")).toEqual([]);
    await replica.ok({ op: "setCurrent", envId: "counter-v1", buildId: sha256(b) });
  });

  it("bounds the number of envs (allow-lists count), rejecting before loading anything", async () => {
    const replica = new Replica();
    const hash = "0".repeat(64);
    for (let i = 0; i < MANIFEST_LIMITS.maxEnvs; i += 1) {
      await replica.ok({ op: "allow", envId: `env${i}-v1`, sha256s: [hash] });
    }
    expect(await replica.run({ op: "allow", envId: "onemore-v1", sha256s: [hash] })).toMatchObject({
      ok: false,
      code: "LimitExceeded",
    });
    expect(await replica.run(installOf(await build(0)))).toMatchObject({
      ok: false,
      code: "LimitExceeded",
    });
    expect(replica.registry.list()).toEqual([]);
  });

  it("retires the oldest unpinned non-current build when an env is full", async () => {
    const replica = new Replica();
    const max = MANIFEST_LIMITS.maxBuildsPerEnv;
    const modules: Uint8Array[] = [];
    for (let i = 0; i < max; i += 1) {
      modules.push(await build(i));
      await replica.ok(installOf(modules[i] as Uint8Array, { makeCurrent: i === 0 }));
    }
    const ids = modules.map(sha256);
    replica.pins.add(ids[1] as string);
    const extra = await build(max);
    const result = await replica.ok(installOf(extra, { makeCurrent: false }));
    // Build 0 is current, build 1 pinned: build 2 is the oldest that may go.
    expect(result).toMatchObject({ created: true, retired: [ids[2]] });
    expect(replica.registry.builds("counter-v1")).toHaveLength(max);
    expect(replica.manifest.hasBuild("counter-v1", ids[2] as string)).toBe(false);
    // When every build is current or pinned, the install is refused.
    for (const id of ids) replica.pins.add(id);
    replica.pins.add(sha256(extra));
    expect(await replica.run(installOf(await build(max + 1)))).toMatchObject({
      ok: false,
      code: "LimitExceeded",
    });
  }, 60_000);
});

describe("ManifestPart snapshot and restore", () => {
  async function populated(): Promise<{ replica: Replica; ids: string[] }> {
    const replica = new Replica();
    const modules = [await build(0), await build(1), await build(0, "other-v1")];
    await replica.ok(installOf(modules[0] as Uint8Array));
    await replica.ok(
      installOf(modules[1] as Uint8Array, { makeCurrent: false, deployedBy: "bob" }),
    );
    await replica.ok(installOf(modules[2] as Uint8Array, { envId: "other-v1" }));
    await replica.ok({
      op: "allow",
      envId: "counter-v1",
      sha256s: modules.slice(0, 2).map(sha256),
    });
    return { replica, ids: modules.map(sha256) };
  }

  it("restores on a fresh node: same snapshot bytes, and the registry re-registers every build before the next apply", async () => {
    const { replica, ids } = await populated();
    const snapshot = replica.machine.snapshot();
    const fresh = new Replica();
    // A build registered behind the manifest's back goes away at the re-sync.
    await fresh.registry.register(await build(7), "stray.wasm");
    fresh.machine.restore(snapshot);
    expect(fresh.machine.snapshot()).toEqual(snapshot);
    await fresh.machine.settled();
    expect(fresh.registryView()).toEqual({ builds: ids.slice(0, 2).sort(), current: ids[0] });
    expect(fresh.registryView("other-v1")).toEqual({ builds: [ids[2]], current: ids[2] });
    expect(fresh.manifest.listBuilds()).toEqual(replica.manifest.listBuilds());
    expect(fresh.manifest.allowList("counter-v1")).toEqual(
      replica.manifest.allowList("counter-v1"),
    );
  });

  it("the first apply after a restore waits for the re-sync", async () => {
    const { replica, ids } = await populated();
    const fresh = new Replica();
    fresh.machine.restore(replica.machine.snapshot());
    // Applied at once, without awaiting settled(): setCurrent must find the build registered.
    await fresh.ok({ op: "setCurrent", envId: "counter-v1", buildId: ids[1] as string });
    expect(fresh.registryView().current).toBe(ids[1]);
  });

  it("restoring an older snapshot removes builds installed since", async () => {
    const replica = new Replica();
    const [a, b] = [await build(0), await build(1)];
    await replica.ok(installOf(a));
    const before = replica.machine.snapshot();
    await replica.ok(installOf(b));
    replica.machine.restore(before);
    await replica.machine.settled();
    expect(replica.registryView()).toEqual({ builds: [sha256(a)], current: sha256(a) });
  });

  it("refuses a snapshot whose module bytes do not match their build id", async () => {
    const { replica } = await populated();
    const snapshot = replica.machine.snapshot();
    const corrupt = snapshot.slice();
    corrupt[corrupt.length - 200] = (corrupt[corrupt.length - 200] ?? 0) ^ 0xff;
    expect(() => new Replica().machine.restore(corrupt)).toThrow(/BadSnapshot|manifest snapshot/);
  });

  it("a build this node's loader refuses after a restore halts the replica at the next apply", async () => {
    const { replica } = await populated();
    // This node runs a smaller module cap than the nodes that accepted the builds.
    const strict = new Replica({ maxModuleBytes: 100 });
    strict.machine.restore(replica.machine.snapshot());
    await expect(strict.machine.settled()).rejects.toThrow(/cannot re-register build/);
    await expect(strict.run({ op: "allow", envId: "x-v1", sha256s: [] })).rejects.toThrow(
      /cannot re-register build .* TooLarge/,
    );
  });
});
