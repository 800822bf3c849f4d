import { status } from "@grpc/grpc-js";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineCallError } from "../../host/client/index.js";
import type { BatchSimulateRequest } from "../../host/proto/generated/engine/v1/engine.js";
import { type Harness, startHarness } from "./harness.js";

/** Statuses a request can earn by being wrong; anything else would be the server's fault. */
const CALLER_STATUSES = new Set<number>([
  status.OK,
  status.NOT_FOUND,
  status.INVALID_ARGUMENT,
  status.FAILED_PRECONDITION,
  status.RESOURCE_EXHAUSTED,
]);

const envIds = fc.oneof(
  fc.constantFrom("tictactoe-v1", "connect4-v1", "pendulum-v1"),
  fc.string({ maxLength: 80 }),
  fc.stringMatching(/^[a-z]{1,8}-v[0-9]$/),
);
const buildIds = fc.oneof(fc.constant(""), fc.stringMatching(/^[0-9a-f]{64}$/));
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.integer({ min: 0, max: 4096 }).map((n) => new Uint8Array(n).fill(n & 0xff)),
);

/** The status of a call: OK, or the status of the EngineCallError it failed with. */
async function outcome(
  call: () => Promise<unknown>,
): Promise<{ code: number; errorCode?: string }> {
  try {
    await call();
    return { code: status.OK };
  } catch (error) {
    expect(error).toBeInstanceOf(EngineCallError);
    const e = error as EngineCallError;
    expect(e.errorCode).not.toBe("Internal");
    return { code: e.code, errorCode: e.errorCode };
  }
}

describe("fuzzed requests", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h.close();
  });

  it("always get a proper status, and the server keeps serving", async () => {
    const codes = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        envIds,
        buildIds,
        bytes,
        bytes,
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.integer({ min: 0, max: 3 }),
        async (envId, buildId, state, action, seed, rpc) => {
          let call: () => Promise<unknown>;
          if (rpc === 0) call = () => h.client.step(envId, state, action, { buildId });
          else if (rpc === 1) call = () => h.client.reset(envId, seed, { buildId, hint: action });
          else if (rpc === 2) call = () => h.client.capabilities(envId, buildId);
          else {
            call = async () => {
              for await (const _ of h.client.batchSimulate({
                envId,
                buildId,
                vector: { states: state, actions: action },
              })) {
                // Drained.
              }
            };
          }
          const { code } = await outcome(call);
          codes.set(code, (codes.get(code) ?? 0) + 1);
          expect(CALLER_STATUSES.has(code)).toBe(true);
        },
      ),
      { numRuns: 300, seed: 20261122 },
    );
    // The fuzzing reached more than one kind of answer, and the server still works.
    expect(codes.size).toBeGreaterThan(2);
    const reset = await h.client.reset("tictactoe-v1", 1n);
    expect(reset.state.length).toBe(11);
  });

  it("survives raw malformed BatchSimulate requests", async () => {
    const requests = fc.record({
      envId: envIds,
      episodes: fc.integer({ min: 0, max: 2_000_000 }),
      stepCap: fc.integer({ min: 0, max: 2_000_000 }),
      chunkRows: fc.integer({ min: 0, max: 1 << 30 }),
    });
    await fc.assert(
      fc.asyncProperty(requests, async (r) => {
        const request: BatchSimulateRequest = {
          id: { envId: r.envId, buildId: "" },
          mode: {
            $case: "rollouts",
            value: {
              seed: 0n,
              episodes: r.episodes,
              stepCap: r.stepCap,
              includeObs: false,
              includeStates: false,
            },
          },
          chunkRows: r.chunkRows,
        };
        const code = await new Promise<number>((resolve) => {
          const call = h.client.rawBatchSimulate(request);
          let chunks = 0;
          call.on("data", () => {
            // Enough to see the call work; cancelling is also a proper ending.
            chunks += 1;
            if (chunks === 2) call.cancel();
          });
          call.on("error", (e: { code: number }) => resolve(e.code));
          call.on("end", () => resolve(status.OK));
        });
        expect([...CALLER_STATUSES, status.CANCELLED]).toContain(code);
      }),
      { numRuns: 40, seed: 7 },
    );
  });
});
