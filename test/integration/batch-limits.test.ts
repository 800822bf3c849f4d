import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DecodedChunk } from "../../host/client/index.js";
import { counterVariant, withManifest, withStepBody } from "../fixtures/counter-variants.js";
import { eventually, type Harness, rejection, startHarness } from "./harness.js";

const TTT = "tictactoe-v1";

async function drain(chunks: AsyncIterable<DecodedChunk>): Promise<number> {
  let rows = 0;
  for await (const chunk of chunks) rows += chunk.rows;
  return rows;
}

/** Every `env` label value of the RPC error counter. */
async function errorEnvLabels(h: Harness): Promise<string[]> {
  const metric = h.metrics.registry.getSingleMetric("cartridge_rpc_errors_total");
  const data = await metric?.get();
  return (data?.values ?? []).map((v) => String(v.labels.env));
}

describe("BatchSimulate concurrency limit and failures mid-stream (real server)", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness(undefined, { limits: { maxConcurrentBatches: 1 } });
    // A counter that traps on a state whose value is 99, so that a vector step fails at that row.
    const trap = await counterVariant(() =>
      withStepBody("(if (i32.eq (i32.load (local.get $s_in)) (i32.const 99)) (then unreachable))")(
        withManifest({ env_id: "trap99-v1" }),
      ),
    );
    await h.registry.register(trap, "memory:trap99");
  });

  afterAll(async () => {
    await h.close();
  });

  it("refuses a call over the limit without labelling metrics with the client's env id", async () => {
    const held = h.client.rawBatchSimulate({
      id: { envId: TTT, buildId: "" },
      mode: {
        $case: "rollouts",
        value: { seed: 0n, episodes: 200_000, stepCap: 0, includeObs: true, includeStates: true },
      },
      chunkRows: 256,
    });
    held.on("data", () => undefined);
    held.on("error", () => undefined);
    held.pause();
    await eventually(
      async () => (await h.metrics.valueOf("cartridge_batch_streams_waiting_for_drain")) === 1,
    );

    const unknown = await rejection(
      drain(
        h.client.batchSimulate({ envId: "made-up-env-7d3f", rollouts: { seed: 0, episodes: 1 } }),
      ),
    );
    expect(unknown.code).toBe(status.NOT_FOUND);
    const busy = await rejection(
      drain(h.client.batchSimulate({ envId: TTT, rollouts: { seed: 0, episodes: 1 } })),
    );
    expect(busy.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(busy.errorCode).toBe("LimitExceeded");
    const labels = await errorEnvLabels(h);
    expect(labels).not.toContain("made-up-env-7d3f");
    expect(labels).toContain(TTT);

    held.cancel();
    await eventually(async () => (await h.metrics.valueOf("cartridge_batch_streams_active")) === 0);
    expect(
      await drain(h.client.batchSimulate({ envId: TTT, rollouts: { seed: 0, episodes: 2 } })),
    ).toBeGreaterThan(0);
  });

  it("maps a cartridge trap after some chunks to INTERNAL and frees the call's slot", async () => {
    const envs = 10;
    const states = new Uint8Array(8 * envs);
    new DataView(states.buffer).setInt32(8 * 5, 99, true);
    let rows = 0;
    const error = await rejection(
      (async () => {
        for await (const chunk of h.client.batchSimulate({
          envId: "trap99-v1",
          vector: { states, actions: new Uint8Array(4 * envs) },
          chunkRows: 1,
        })) {
          rows += chunk.rows;
        }
      })(),
    );
    expect(rows).toBe(5);
    expect(error.code).toBe(status.INTERNAL);
    expect(error.errorCode).toBe("Trap");
    expect(error.message).toContain("trap99-v1");
    expect(await h.metrics.valueOf("cartridge_batch_streams_active")).toBe(0);
    expect(await h.metrics.valueOf("cartridge_batch_chunks_in_flight")).toBe(0);
    const again = await drain(
      h.client.batchSimulate({
        envId: "trap99-v1",
        vector: { states: new Uint8Array(8), actions: new Uint8Array(4) },
      }),
    );
    expect(again).toBe(1);
  });
});
