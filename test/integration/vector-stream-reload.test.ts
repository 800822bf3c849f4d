import { rm } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { watchCartridges } from "../../host/runtime/watch.js";
import { eventually, startHarness, tempCartridgeDir } from "./harness.js";

describe("a vector BatchSimulate stream across a hot reload", () => {
  it("finishes on the build it started with when the env's file is removed mid-stream", async () => {
    const folder = await tempCartridgeDir(["tictactoe-v1"]);
    const harness = await startHarness(folder.dir);
    const watcher = await watchCartridges(harness.registry, folder.dir, {});
    try {
      const { state } = await harness.client.reset("tictactoe-v1", 1n);
      // Enough rows (about 9 MB of chunks) to outgrow the HTTP/2 windows, so the stream must wait.
      const envs = 60_000;
      const states = Buffer.concat(Array.from({ length: envs }, () => Buffer.from(state)));
      const call = harness.client.rawBatchSimulate({
        id: { envId: "tictactoe-v1", buildId: "" },
        mode: {
          $case: "vector",
          value: { states, actions: Buffer.alloc(4 * envs), autoreset: false, autoresetSeed: 0n },
        },
        chunkRows: 16,
      });
      let rows = 0;
      call.on("data", (chunk: { rows: number }) => {
        rows += chunk.rows;
      });
      const outcome = new Promise<string>((resolve) => {
        call.on("error", (error: { code: number; details: string }) =>
          resolve(`error ${error.code}: ${error.details}`),
        );
        call.on("end", () => resolve("end"));
      });
      // Hold the stream mid-way (the server is waiting for the client to drain), remove the
      // cartridge, wait until the registry has dropped the env, then let the stream go on.
      call.pause();
      await eventually(
        async () =>
          (await harness.metrics.valueOf("cartridge_batch_streams_waiting_for_drain")) === 1,
      );
      await rm(join(folder.dir, "tictactoe-v1.wasm"));
      await eventually(() => harness.registry.list().length === 0);
      call.resume();
      expect(await outcome).toBe("end");
      expect(rows).toBe(envs);
    } finally {
      await watcher.close();
      await harness.close();
      await folder.remove();
    }
  });
});
