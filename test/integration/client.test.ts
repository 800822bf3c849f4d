import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { EngineCallError, EngineClient } from "../../host/client/index.js";
import { eventually, startHarness } from "./harness.js";

describe("EngineClient (real server)", () => {
  it("cancels calls still in flight, so the server stops streaming for nobody", async () => {
    const h = await startHarness();
    try {
      const client = await EngineClient.connect(h.server.address);
      const chunks = client.batchSimulate({
        envId: "tictactoe-v1",
        rollouts: { seed: 0, episodes: 200_000 },
        chunkRows: 256,
      });
      const first = await chunks.next();
      expect(first.done).toBe(false);
      client.close();
      // Chunks already received may still come out; then the call must fail, not run on.
      const error = await (async () => {
        for (;;) {
          const next = await chunks.next();
          if (next.done === true) return undefined;
        }
      })().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EngineCallError);
      expect((error as EngineCallError).code).toBe(status.CANCELLED);
      await eventually(
        async () => (await h.metrics.valueOf("cartridge_batch_streams_active")) === 0,
      );
    } finally {
      await h.close();
    }
  });

  it("refuses a BatchSimulate call that names both modes instead of silently dropping one", async () => {
    const h = await startHarness();
    try {
      const chunks = h.client.batchSimulate({
        envId: "tictactoe-v1",
        vector: { states: new Uint8Array(11), actions: new Uint8Array(4) },
        rollouts: { seed: 0, episodes: 1 },
      });
      await expect(chunks.next()).rejects.toThrow(/either vector or rollouts, not both/);
    } finally {
      await h.close();
    }
  });
});
