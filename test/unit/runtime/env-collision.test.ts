import { mkdtemp, rename, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadDirectory } from "../../../host/runtime/directory.js";
import { LoadError } from "../../../host/runtime/errors.js";
import { Registry } from "../../../host/runtime/registry.js";
import { type CartridgeWatcher, watchCartridges } from "../../../host/runtime/watch.js";
import { counterBuild } from "../../fixtures/counter-variants.js";

/**
 * One source per env id in a watched folder (issue 10): the first file to declare an env keeps
 * it; a second file declaring it is refused with an error naming both, and removing that file
 * changes nothing; when the first goes, the refused one (the first in path order) takes over.
 */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function folder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "cartridge-collision-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function watch(
  registry: Registry,
  dir: string,
  errors: unknown[],
): Promise<CartridgeWatcher> {
  const watcher = await watchCartridges(registry, dir, {
    stabilityMs: 20,
    onError: (_source, error) => errors.push(error),
  });
  cleanups.push(() => watcher.close());
  return watcher;
}

/** Polls `check` until it holds, letting the watcher settle between polls. */
async function until(watcher: CartridgeWatcher, check: () => boolean): Promise<void> {
  for (let i = 0; i < 250; i++) {
    await watcher.settled();
    if (check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("condition not reached");
}

const sourceOf = (registry: Registry) => registry.resolve({ envId: "counter-v1" }).cartridge.source;

describe("env-id collision in a cartridge folder", () => {
  it("refuses a second file for the same env, naming both; removing it changes nothing", async () => {
    const registry = new Registry();
    const first = await registry.register(await counterBuild(0), "/f/game.wasm");
    const error = await registry
      .register(await counterBuild(1), "/f/backup.wasm")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LoadError);
    expect((error as LoadError).code).toBe("EnvConflict");
    expect((error as LoadError).message).toContain("/f/backup.wasm");
    expect((error as LoadError).message).toContain("/f/game.wasm");
    expect(registry.resolve({ envId: "counter-v1" }).capabilities.buildId).toBe(first.buildId);
    // The same bytes under another name are a second source too (cp game.wasm backup.wasm).
    await expect(registry.register(await counterBuild(0), "/f/backup.wasm")).rejects.toThrow(
      /already provides/,
    );
    expect(registry.unregisterSource("/f/backup.wasm")).toBe(false);
    expect(sourceOf(registry)).toBe("/f/game.wasm");
    // The owner itself still reloads.
    const second = await registry.register(await counterBuild(2), "/f/game.wasm");
    expect(registry.resolve({ envId: "counter-v1" }).capabilities.buildId).toBe(second.buildId);
  });

  it("gives the env to the first file in name order when a folder is loaded", async () => {
    const dir = await folder();
    await writeFile(join(dir, "b-game.wasm"), await counterBuild(0));
    await writeFile(join(dir, "a-copy.wasm"), await counterBuild(1));
    for (let run = 0; run < 2; run++) {
      const registry = new Registry();
      const result = await loadDirectory(registry, dir);
      expect(sourceOf(registry)).toBe(join(dir, "a-copy.wasm"));
      expect(result.rejected.map((r) => [r.source, r.error.code])).toEqual([
        [join(dir, "b-game.wasm"), "EnvConflict"],
      ]);
    }
  });

  it("in a watched folder: a copy is refused and its removal changes nothing", async () => {
    const dir = await folder();
    const registry = new Registry();
    const game = join(dir, "game.wasm");
    await writeFile(game, await counterBuild(0));
    await loadDirectory(registry, dir);
    const errors: unknown[] = [];
    const watcher = await watch(registry, dir, errors);
    const backup = join(dir, "backup.wasm");
    await writeFile(backup, await counterBuild(0));
    await until(watcher, () => errors.length === 1);
    expect((errors[0] as LoadError).code).toBe("EnvConflict");
    // A change to the refused copy is refused again: the env does not flap.
    await writeFile(backup, await counterBuild(3));
    await until(watcher, () => errors.length === 2);
    expect(sourceOf(registry)).toBe(game);
    await unlink(backup);
    await until(watcher, () => registry.claimableSources().length === 0);
    expect(sourceOf(registry)).toBe(game);
    expect(registry.list().map((c) => c.envId)).toEqual(["counter-v1"]);
  });

  it("in a watched folder: the refused file takes over when the first goes (a rename too)", async () => {
    const dir = await folder();
    const registry = new Registry();
    const game = join(dir, "game.wasm");
    await writeFile(game, await counterBuild(0));
    await loadDirectory(registry, dir);
    const errors: unknown[] = [];
    const watcher = await watch(registry, dir, errors);
    const other = join(dir, "other.wasm");
    const otherBytes = await counterBuild(1);
    await writeFile(other, otherBytes);
    await until(watcher, () => errors.length === 1);
    await unlink(game);
    await until(watcher, () => registry.list().length === 1 && sourceOf(registry) === other);
    // Renamed: the env stays, now provided by the new name.
    const renamed = join(dir, "renamed.wasm");
    await rename(other, renamed);
    await until(watcher, () => registry.list().length === 1 && sourceOf(registry) === renamed);
    expect(registry.claimableSources()).toEqual([]);
  });
});
