import { createHash } from "node:crypto";
import { cp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EngineClient } from "../../host/client/index.js";
import { createEngine, LoadError } from "../../host/runtime/index.js";
import { type CartridgeWatcher, watchCartridges } from "../../host/runtime/watch.js";
import {
  bundledCartridge,
  eventually,
  type Harness,
  rejection,
  startHarness,
  tempCartridgeDir,
} from "./harness.js";

const TTT = "tictactoe-v1";

/** The same module with a custom section appended: a different build that plays the same game. */
function rebuilt(bytes: Uint8Array, tag: string): Uint8Array {
  const name = new TextEncoder().encode("reload");
  const payload = new TextEncoder().encode(tag);
  const content = [name.length, ...name, ...payload];
  if (content.length >= 128) throw new Error("tag too long for a one-byte section size");
  return Buffer.concat([bytes, Uint8Array.from([0, content.length, ...content])]);
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** Plays tic-tac-toe episodes back to back until stopped; counts steps and failures. */
function startStepper(client: EngineClient) {
  let running = true;
  const stats = { steps: 0, episodes: 0, failures: [] as unknown[], builds: new Set<string>() };
  const done = (async () => {
    const env = await client.make(TTT);
    let seed = 0;
    while (running) {
      try {
        let { info } = await env.reset({ seed: seed++ });
        stats.builds.add(info.buildId);
        for (;;) {
          const result = await env.step(info.legalMask.indexOf(1));
          stats.steps += 1;
          info = result.info;
          if (result.terminated || result.truncated) break;
        }
        stats.episodes += 1;
      } catch (error) {
        stats.failures.push(error);
      }
    }
  })();
  return {
    stats,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

describe("hot reload while a client is stepping", () => {
  let h: Harness;
  let folder: Awaited<ReturnType<typeof tempCartridgeDir>>;
  let watcher: CartridgeWatcher;
  const rejected: { source: string; error: unknown }[] = [];

  beforeAll(async () => {
    folder = await tempCartridgeDir([TTT]);
    h = await startHarness(folder.dir);
    watcher = await watchCartridges(h.registry, folder.dir, {
      onError: (source, error) => rejected.push({ source, error }),
    });
  });

  afterAll(async () => {
    await watcher.close();
    await h.close();
    await folder.remove();
  });

  it("adds, replaces, refuses a broken file, and removes, without failing a call", async () => {
    const stepper = startStepper(h.client);
    await eventually(() => stepper.stats.episodes >= 3);
    const tttPath = join(folder.dir, `${TTT}.wasm`);
    const original = await readFile(tttPath);
    const firstBuild = sha256(original);

    // Add: a new file becomes a new env.
    await cp(bundledCartridge("connect4-v1"), join(folder.dir, "connect4-v1.wasm"));
    await eventually(async () =>
      (await h.client.listEnvs()).some((c) => c.id?.envId === "connect4-v1"),
    );
    const connect4 = await h.client.make("connect4-v1");
    await connect4.reset({ seed: 1 });

    // Replace: a changed file becomes the env's new build; running episodes keep theirs.
    const second = rebuilt(original, "v2");
    await writeFile(tttPath, second);
    await eventually(async () => (await h.client.capabilities(TTT)).id?.buildId === sha256(second));
    const episodesAtReload = stepper.stats.episodes;
    await eventually(() => stepper.stats.episodes >= episodesAtReload + 3);
    expect(stepper.stats.builds).toContain(firstBuild);
    expect(stepper.stats.builds).toContain(sha256(second));
    // A client that pinned the old build still gets it.
    const pinned = await h.client.reset(TTT, 5n, { buildId: firstBuild });
    expect(pinned.id?.buildId).toBe(firstBuild);

    // Break: a file that does not load never replaces the working build.
    await writeFile(tttPath, Buffer.from("this is not a WebAssembly module"));
    await eventually(() => rejected.some((r) => r.source === tttPath));
    expect((await h.client.capabilities(TTT)).id?.buildId).toBe(sha256(second));
    expect(await h.metrics.valueOf("cartridge_registry_events_total", { event: "rejected" })).toBe(
      1,
    );
    const episodesAtBreak = stepper.stats.episodes;
    await eventually(() => stepper.stats.episodes >= episodesAtBreak + 3);

    // Remove: the env goes away.
    await rm(join(folder.dir, "connect4-v1.wasm"));
    await eventually(async () => {
      const error = await h.client.capabilities("connect4-v1").then(
        () => undefined,
        (e: { code: number }) => e,
      );
      return error?.code === status.NOT_FOUND;
    });
    const gone = await rejection(connect4.reset({ seed: 2 }));
    expect(gone.code).toBe(status.NOT_FOUND);

    await stepper.stop();
    expect(stepper.stats.failures).toEqual([]);
    expect(stepper.stats.steps).toBeGreaterThan(20);
    expect(await h.metrics.valueOf("cartridge_registry_events_total", { event: "reloaded" })).toBe(
      1,
    );
  });

  it("refuses a file over the size limit without reading it", async () => {
    const { registry } = createEngine();
    const limited = await tempCartridgeDir([]);
    const errors: unknown[] = [];
    const small = await watchCartridges(registry, limited.dir, {
      maxFileBytes: 1024,
      onError: (_source, error) => errors.push(error),
    });
    try {
      await cp(bundledCartridge(TTT), join(limited.dir, `${TTT}.wasm`));
      await eventually(() => errors.length === 1);
      expect(errors[0]).toBeInstanceOf(LoadError);
      expect((errors[0] as LoadError).code).toBe("TooLarge");
      expect(registry.list()).toEqual([]);
    } finally {
      await small.close();
      await limited.remove();
    }
  });
});
