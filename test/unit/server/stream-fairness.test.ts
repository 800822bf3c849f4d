import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineClient } from "../../../host/client/index.js";
import { InlineEngine } from "../../../host/runtime/inline-engine.js";
import { type RunningServer, startServer } from "../../../host/server/server.js";
import { CountingEngine } from "./counting-engine.js";

/**
 * One client cannot lock others out of BatchSimulate: its streams are capped per client address,
 * and a stream its client does not read is cancelled after `stalledStreamMs`, freeing the slot.
 */
describe("BatchSimulate fairness", () => {
  let server: RunningServer;
  let client: EngineClient;

  beforeAll(async () => {
    server = await startServer({
      engine: new InlineEngine(new CountingEngine()),
      limits: { maxConcurrentBatches: 8, maxBatchesPerClient: 2, stalledStreamMs: 300 },
    });
    client = await EngineClient.connect(server.address);
  });

  afterAll(async () => {
    client.close();
    await server.shutdown(0);
  });

  /** A rollout stream its client never reads; resolves with the status it ends with. */
  function unread(): { ended: Promise<{ code: number; details: string }>; resume: () => void } {
    const call = client.rawBatchSimulate({
      id: { envId: "count-v1", buildId: "" },
      mode: {
        $case: "rollouts",
        value: { seed: 0n, episodes: 200_000, stepCap: 10, includeObs: true, includeStates: true },
      },
      chunkRows: 1000,
    });
    const ended = new Promise<{ code: number; details: string }>((resolve) => {
      // The final status, whatever the order of grpc-js's end and error events.
      call.on("status", (final: { code: number; details: string }) => resolve(final));
      call.on("error", () => undefined);
    });
    call.on("data", () => undefined);
    call.pause();
    return { ended, resume: () => call.resume() };
  }

  async function oneRollout(): Promise<number> {
    let rows = 0;
    for await (const chunk of client.batchSimulate({
      envId: "count-v1",
      rollouts: { seed: 0, episodes: 1, stepCap: 10 },
    })) {
      rows += chunk.rows;
    }
    return rows;
  }

  it("refuses a client's streams beyond its share, and cancels the ones it does not read", async () => {
    const first = unread();
    const second = unread();
    await expect.poll(() => server.metrics.valueOf("cartridge_batch_streams_active")).toBe(2);
    const refused = await oneRollout().catch((error: { code: number; message: string }) => error);
    expect(refused).toMatchObject({ code: status.RESOURCE_EXHAUSTED });
    expect((refused as { message: string }).message).toMatch(/per-client limit/);
    // Not read for stalledStreamMs: both are cancelled and their slots freed.
    await expect
      .poll(() => server.metrics.valueOf("cartridge_batch_streams_active"), { timeout: 20_000 })
      .toBe(0);
    expect(await oneRollout()).toBe(10);
    // Read at last, each ends with the reason after the chunks written before the cancel.
    for (const stream of [first, second]) {
      stream.resume();
      const end = await stream.ended;
      expect(end.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(end.details).toMatch(/not read for 300 ms/);
    }
  });
});
