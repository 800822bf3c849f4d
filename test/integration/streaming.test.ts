import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import type { SimResultChunk } from "../../host/proto/generated/engine/v1/engine.js";
import { eventually, type Harness, rejection, startHarness } from "./harness.js";

const TTT = "tictactoe-v1";

function rolloutRequest(episodes: number, chunkRows = 512) {
  return {
    id: { envId: TTT, buildId: "" },
    mode: {
      $case: "rollouts" as const,
      value: { seed: 0n, episodes, stepCap: 0, includeObs: true, includeStates: true },
    },
    chunkRows,
  };
}

const produced = (h: Harness) =>
  h.metrics.valueOf("cartridge_batch_rows_produced_total", { env: TTT });

describe("BatchSimulate streaming and shutdown (real cartridges)", () => {
  it("stops simulating while the client does not read, and resumes when it does", async () => {
    const h = await startHarness();
    try {
      // About 7.6 steps per episode: far more rows than any buffer between server and client.
      const episodes = 40_000;
      const call = h.client.rawBatchSimulate(rolloutRequest(episodes));
      let received = 0;
      const episodesSeen = new Set<number>();
      call.on("data", (chunk: SimResultChunk) => {
        received += chunk.rows;
        const index = new Uint32Array(
          chunk.index.buffer.slice(
            chunk.index.byteOffset,
            chunk.index.byteOffset + chunk.index.length,
          ),
        );
        for (const e of index) episodesSeen.add(e);
      });
      call.pause();
      await eventually(
        async () => (await h.metrics.valueOf("cartridge_batch_streams_waiting_for_drain")) === 1,
      );
      const stalledAt = await produced(h);
      // While the stream waits, the generator is not pulled: the count does not move.
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 20));
        expect(await produced(h)).toBe(stalledAt);
      }
      expect(stalledAt).toBeLessThan(episodes);
      // What the server holds for this stream is bounded by the in-flight chunk limit.
      const inFlight = await h.metrics.valueOf("cartridge_batch_chunks_in_flight");
      expect(inFlight).toBeGreaterThan(0);
      expect(inFlight).toBeLessThanOrEqual(h.server.limits.maxInFlightChunks);
      const ended = new Promise<void>((resolve, reject) => {
        call.on("end", resolve);
        call.on("error", reject);
      });
      call.resume();
      await ended;
      expect(episodesSeen.size).toBe(episodes);
      expect(received).toBe(await produced(h));
      expect(await h.metrics.valueOf("cartridge_batch_streams_active")).toBe(0);
      expect(await h.metrics.valueOf("cartridge_batch_chunks_in_flight")).toBe(0);
    } finally {
      await h.close();
    }
  });

  it("lets other calls through while a long stream is running", async () => {
    const h = await startHarness();
    try {
      const episodes = 200_000;
      let rows = 0;
      let stepsDone = false;
      const stream = (async () => {
        for await (const chunk of h.client.batchSimulate({
          envId: TTT,
          rollouts: { seed: 0, episodes },
          chunkRows: 1024,
        })) {
          rows += chunk.rows;
          if (stepsDone) break;
        }
      })();
      await eventually(() => rows > 5000);
      const rowsBefore = rows;
      const { state } = await h.client.reset(TTT, 1n);
      for (let i = 0; i < 20; i++) {
        await h.client.step(TTT, state, Uint8Array.of(i % 9, 0, 0, 0));
      }
      const rowsAfter = rows;
      stepsDone = true;
      await stream;
      // The stream kept flowing between the unary calls, and they finished long before it would.
      expect(rowsAfter).toBeGreaterThan(rowsBefore);
      expect(rowsAfter).toBeLessThan(episodes * 5);
    } finally {
      await h.close();
    }
  });

  it("stops simulating when the client cancels or its deadline passes", async () => {
    const h = await startHarness();
    try {
      let seen = 0;
      for await (const chunk of h.client.batchSimulate({
        envId: TTT,
        rollouts: { seed: 0, episodes: 500_000 },
        chunkRows: 256,
      })) {
        seen += chunk.rows;
        if (seen > 2000) break;
      }
      await eventually(
        async () => (await h.metrics.valueOf("cartridge_batch_streams_active")) === 0,
      );
      expect(await h.metrics.valueOf("cartridge_batch_chunks_in_flight")).toBe(0);
      const afterCancel = await produced(h);
      expect(afterCancel).toBeLessThan(500_000);

      const slow = async () => {
        for await (const _ of h.client.batchSimulate({
          envId: TTT,
          rollouts: { seed: 0, episodes: 500_000 },
          chunkRows: 256,
          timeoutMs: 200,
        })) {
          await new Promise((r) => setTimeout(r, 5));
        }
      };
      const error = await rejection(slow());
      expect(error.code).toBe(status.DEADLINE_EXCEEDED);
      await eventually(
        async () => (await h.metrics.valueOf("cartridge_batch_streams_active")) === 0,
      );
      expect((await produced(h)) - afterCancel).toBeLessThan(500_000 * 7);
    } finally {
      await h.close();
    }
  });

  it("shuts down gracefully: in-flight calls finish, new calls are refused", async () => {
    const h = await startHarness();
    const episodes = 3000;
    let rows = 0;
    let stopping: Promise<{ forced: boolean }> | undefined;
    const episodesSeen = new Set<number>();
    for await (const chunk of h.client.batchSimulate({
      envId: TTT,
      rollouts: { seed: 1, episodes },
      chunkRows: 256,
    })) {
      rows += chunk.rows;
      for (const e of chunk.index) episodesSeen.add(e);
      // Begin shutting down while the stream is in flight.
      stopping ??= h.server.shutdown(30_000);
    }
    expect(episodesSeen.size).toBe(episodes);
    expect(rows).toBeGreaterThan(episodes * 5);
    expect(await stopping).toEqual({ forced: false });
    const refused = await rejection(h.client.reset(TTT, 1n, { timeoutMs: 1000 }));
    expect([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]).toContain(refused.code);
    h.client.close();
  });

  it("cancels calls still running at the shutdown deadline", async () => {
    const h = await startHarness();
    const call = h.client.rawBatchSimulate(rolloutRequest(200_000));
    const failed = new Promise<{ code: number }>((resolve) => call.on("error", resolve));
    call.on("data", () => undefined);
    call.pause();
    await eventually(
      async () => (await h.metrics.valueOf("cartridge_batch_streams_waiting_for_drain")) === 1,
    );
    expect(await h.server.shutdown(100)).toEqual({ forced: true });
    call.resume();
    const error = await failed;
    expect([status.CANCELLED, status.UNAVAILABLE, status.INTERNAL]).toContain(error.code);
    h.client.close();
  });
});
