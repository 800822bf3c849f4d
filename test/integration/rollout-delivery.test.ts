import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineClient } from "../../host/client/index.js";
import { WorkerEngine } from "../../host/runtime/worker-engine.js";
import { startServer } from "../../host/server/server.js";
import { type Harness, startHarness } from "./harness.js";

const TTT = "tictactoe-v1";

/** Every column of every chunk of a rollout call, as the client received it. */
async function received(client: EngineClient, seed: number): Promise<number[][]> {
  const out: number[][] = [];
  for await (const chunk of client.batchSimulate({
    envId: TTT,
    rollouts: { seed, episodes: 3000, includeStates: true },
    chunkRows: 500,
  })) {
    out.push(
      [chunk.rows],
      [...chunk.index],
      [...chunk.step],
      [...chunk.actions],
      [...chunk.states],
      [...chunk.rewards],
      [...chunk.terminated],
      [...chunk.truncated],
      [...chunk.currentPlayers],
      [...chunk.playerRewards],
    );
  }
  return out;
}

describe("rollouts delivered over gRPC (chunk buffers recycled, chunks encoded by hand)", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h.close();
  });

  it("carry the same rows from an inline server and from 2 workers, two streams at once", async () => {
    const inline = await Promise.all([received(h.client, 1), received(h.client, 2)]);
    expect(inline[0]?.length).toBeGreaterThan(3 * 10);
    const pool = new WorkerEngine(h.registry, { workers: 2 });
    await pool.ready();
    const server = await startServer({ engine: pool });
    const client = await EngineClient.connect(server.address);
    try {
      const pooled = await Promise.all([received(client, 1), received(client, 2)]);
      expect(pooled).toEqual(inline);
    } finally {
      client.close();
      await server.shutdown(2000);
      await pool.close();
    }
  });
});
