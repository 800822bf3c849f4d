import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineCallError, EngineClient } from "../../../host/client/index.js";
import { InlineEngine } from "../../../host/runtime/inline-engine.js";
import { type RunningServer, startServer } from "../../../host/server/server.js";
import { CountingEngine } from "./counting-engine.js";

/**
 * The server's plumbing over an in-process engine: status mapping on the wire, request limits,
 * flow control and cancellation. test/integration repeats these against real cartridges.
 */
describe("server plumbing (counting engine)", () => {
  const engine = new CountingEngine();
  let server: RunningServer;
  let client: EngineClient;

  beforeAll(async () => {
    server = await startServer({
      engine: new InlineEngine(engine),
      limits: { maxRolloutEpisodes: 1_000_000, maxConcurrentBatches: 1 },
    });
    client = await EngineClient.connect(server.address);
  });

  afterAll(async () => {
    client.close();
    await server.shutdown(1000);
  });

  it("serves reset and step through the Gymnasium-like client", async () => {
    const env = await client.make("count-v1");
    const { obs } = await env.reset({ seed: 1 });
    expect(Array.from(obs)).toEqual([0]);
    const result = await env.step(1);
    expect(Array.from(result.obs)).toEqual([1]);
    expect(result.reward).toBe(1);
    expect(result.terminated).toBe(false);
  });

  it("maps typed errors to statuses and carries the typed code", async () => {
    const error = await client
      .step("nope-v1", new Uint8Array(4), new Uint8Array(4))
      .catch((e) => e);
    expect(error).toBeInstanceOf(EngineCallError);
    expect(error.code).toBe(status.NOT_FOUND);
    expect(error.errorCode).toBe("UnknownEnv");
    expect(typeof error.requestId).toBe("string");
    const over = new Uint8Array([10, 0, 0, 0]);
    const done = await client.step("count-v1", over, new Uint8Array(4)).catch((e) => e);
    expect(done.code).toBe(status.FAILED_PRECONDITION);
    const missing = await client.step("", over, new Uint8Array(4)).catch((e) => e);
    expect(missing.code).toBe(status.INVALID_ARGUMENT);
  });

  it("rejects a rollout over the server's total-step limit", async () => {
    const run = async () => {
      for await (const _ of client.batchSimulate({
        envId: "count-v1",
        rollouts: { seed: 0, episodes: 2_000_000, stepCap: 10 },
      })) {
        // Never reached.
      }
    };
    const error = await run().catch((e) => e);
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it("stops pulling from the engine while the client does not read, then finishes", async () => {
    const episodes = 200_000;
    const stepCap = 10;
    const call = client.rawBatchSimulate({
      id: { envId: "count-v1", buildId: "" },
      mode: {
        $case: "rollouts",
        value: { seed: 0n, episodes, stepCap, includeObs: true, includeStates: true },
      },
      chunkRows: 1000,
    });
    const before = engine.rowsProduced;
    let received = 0;
    call.on("data", (chunk: { rows: number }) => {
      received += chunk.rows;
    });
    call.pause();
    // Wait until the server reports that it is blocked on flow control.
    for (let i = 0; i < 500; i++) {
      if ((await server.metrics.valueOf("cartridge_batch_streams_waiting_for_drain")) === 1) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await server.metrics.valueOf("cartridge_batch_streams_waiting_for_drain")).toBe(1);
    // The server takes one BatchSimulate at a time here: a second one is refused, not queued.
    const second = async () => {
      for await (const _ of client.batchSimulate({
        envId: "count-v1",
        rollouts: { seed: 0, episodes: 1, stepCap: 10 },
      })) {
        // Never reached.
      }
    };
    const refused = await second().catch((e) => e);
    expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused.message).toMatch(/already in progress/);
    const stalledAt = engine.rowsProduced - before;
    await new Promise((r) => setTimeout(r, 100));
    expect(engine.rowsProduced - before).toBe(stalledAt);
    expect(stalledAt).toBeLessThan((episodes * stepCap) / 4);
    const finished = new Promise<void>((resolve, reject) => {
      call.on("end", resolve);
      call.on("error", reject);
    });
    call.resume();
    await finished;
    expect(received).toBe(episodes * stepCap);
    expect(engine.rowsProduced - before).toBe(episodes * stepCap);
  });

  it("stops producing when the client cancels", async () => {
    const before = engine.rowsProduced;
    let seen = 0;
    for await (const chunk of client.batchSimulate({
      envId: "count-v1",
      rollouts: { seed: 0, episodes: 500_000, stepCap: 10 },
      chunkRows: 1000,
    })) {
      seen += chunk.rows;
      if (seen >= 5000) break;
    }
    for (let i = 0; i < 200; i++) {
      if ((await server.metrics.valueOf("cartridge_batch_streams_active")) === 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await server.metrics.valueOf("cartridge_batch_streams_active")).toBe(0);
    expect(engine.rowsProduced - before).toBeLessThan(500_000 * 10);
  });
});
