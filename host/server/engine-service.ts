import { type ServerWritableStream, status } from "@grpc/grpc-js";
import type {
  BatchSimulateRequest,
  EngineId,
  EngineServer,
  SimResultChunk,
} from "../proto/generated/engine/v1/engine.js";
import type { Engine, EnvSelector } from "../runtime/engine.js";
import { planBatch } from "./batch-plan.js";
import { finishError, finishOk, openCall, type ServiceDeps, unaryHandler } from "./call-context.js";
import { toCapabilities, toResetResponse, toStepResponse } from "./convert.js";
import type { ServerLimits } from "./limits.js";
import { requestError, StatusError } from "./status.js";
import { pumpChunks } from "./stream-pump.js";
import { StreamSlots } from "./stream-slots.js";
import { inCartridgeSpan } from "./telemetry.js";

/** Name of the cartridge span of each BatchSimulate mode. */
const SPAN_OF_MODE = { vector: "step_batch", rollouts: "rollout", reset: "reset_batch" } as const;

/** Reads the env selector of a request; a missing env id is the caller's mistake. */
function selectorOf(id: EngineId | undefined): EnvSelector {
  const envId = id?.envId ?? "";
  if (envId === "") throw requestError("BadArgument", "id.env_id is required");
  return { envId, buildId: id?.buildId ? id.buildId : undefined };
}

/**
 * The Engine service over an in-process `Engine`. Every handler is a thin adapter: validate the
 * request shape, call the engine inside a span, convert the result; errors go through
 * `finishError` (status.ts) so the mapping lives in one place.
 */
export function createEngineService(
  engine: Engine,
  deps: ServiceDeps,
  limits: ServerLimits,
): EngineServer {
  const { metrics } = deps;
  // BatchSimulate calls in progress, in total and per client address (host without port); each
  // holds up to maxInFlightChunks chunks of memory.
  const batchSlots = new StreamSlots(
    "BatchSimulate",
    limits.maxConcurrentBatches,
    limits.maxBatchesPerClient,
  );
  // Reset and Step calls waiting for or running guest code, shared by both methods.
  const guestSlots = new StreamSlots(
    "Reset and Step",
    limits.maxGuestCalls,
    limits.maxGuestCallsPerClient,
  );
  /**
   * Runs `work` in a guest-call slot of `peer`, or refuses it with `LimitExceeded`. The env is
   * looked up first: an unknown env is NOT_FOUND even when the server is busy, and the env id of a
   * refused call, which labels its error metric, is one that exists (random ids from a client
   * must not grow the metric set).
   */
  const inGuestSlot = async <T>(
    peer: string,
    selector: EnvSelector,
    work: () => Promise<T>,
  ): Promise<T> => {
    engine.capabilities(selector);
    const slot = guestSlots.acquire(peer);
    if ("refusal" in slot) throw requestError("LimitExceeded", slot.refusal);
    try {
      return await work();
    } finally {
      slot.release();
    }
  };
  return {
    getCapabilities: unaryHandler(deps, "GetCapabilities", (request: EngineId, ctx) => {
      const selector = selectorOf(request);
      ctx.envId = selector.envId;
      return toCapabilities(engine.capabilities(selector));
    }),

    listEnvs: unaryHandler(deps, "ListEnvs", () => {
      const envs = engine.listEnvs();
      metrics.envsServed.set(envs.length);
      return { envs: envs.map(toCapabilities) };
    }),

    reset: unaryHandler(deps, "Reset", async (request, ctx, signal, call) => {
      const selector = selectorOf(request.id);
      ctx.envId = selector.envId;
      const hint = request.hint.length > 0 ? request.hint : undefined;
      const t = await inGuestSlot(call.getPeer(), selector, () =>
        inCartridgeSpan(ctx.span, "reset", selector.envId, () =>
          engine.reset(selector, request.seed, hint, { signal }),
        ),
      );
      return toResetResponse(t);
    }),

    step: unaryHandler(deps, "Step", async (request, ctx, signal, call) => {
      const selector = selectorOf(request.id);
      ctx.envId = selector.envId;
      const t = await inGuestSlot(call.getPeer(), selector, () =>
        inCartridgeSpan(ctx.span, "step", selector.envId, () =>
          engine.step(selector, request.state, request.action, { signal }),
        ),
      );
      metrics.countSteps(t.build.envId);
      return toStepResponse(t);
    }),

    batchSimulate: (call: ServerWritableStream<BatchSimulateRequest, SimResultChunk>) => {
      const startNs = process.hrtime.bigint();
      const ctx = openCall(deps, "BatchSimulate", call.metadata);
      ctx.envId = call.request.id?.envId || undefined;
      const fail = (error: unknown) => {
        const mapped = finishError(deps, ctx, startNs, error);
        if (!call.cancelled) call.emit("error", mapped.serviceError);
      };
      // Plan first (planning is cheap: nothing is simulated yet): an unknown env is NOT_FOUND even
      // when the server is busy, and the env id of a refused call is one that exists, so it may
      // label metrics without letting random ids from clients grow the metric set.
      // Aborted when the stream ends early (cancelled, deadline, stalled), so the engine stops.
      const abort = new AbortController();
      let plan: ReturnType<typeof planBatch>;
      try {
        plan = planBatch(engine, call.request, limits, abort.signal);
      } catch (error) {
        fail(error);
        return;
      }
      const env = plan.caps.envId;
      ctx.envId = env;
      const slot = batchSlots.acquire(call.getPeer());
      if ("refusal" in slot) {
        void plan.chunks.return();
        fail(requestError("LimitExceeded", slot.refusal));
        return;
      }
      ctx.log.debug({ envId: env, mode: plan.mode, maxRows: plan.maxRows }, "batch started");
      metrics.batchStreamsActive.inc();
      let rowsProduced = 0;
      // Chunks this call has written that HTTP/2 has not taken yet; whatever is left when the
      // call ends (cancelled calls never finish their writes) is taken off the gauge then.
      let inFlight = 0;
      let ended = false;
      const pump = pumpChunks(
        call,
        {
          next: () =>
            inCartridgeSpan(ctx.span, SPAN_OF_MODE[plan.mode], env, () => plan.chunks.next()),
          return: () => {
            abort.abort();
            return plan.chunks.return();
          },
        },
        {
          onChunk: ({ rows }) => {
            rowsProduced += rows;
            metrics.batchRowsProduced.inc({ env, mode: plan.mode }, rows);
            metrics.countSteps(env, rows);
          },
          onInFlight: (delta) => {
            if (ended) return;
            inFlight += delta;
            metrics.batchChunksInFlight.inc(delta);
          },
          onWritten: (chunk) => plan.release(chunk),
          onWaiting: (waiting) => {
            if (waiting) metrics.batchStreamsWaiting.inc();
            else metrics.batchStreamsWaiting.dec();
          },
        },
        { maxInFlightChunks: limits.maxInFlightChunks, stallTimeoutMs: limits.stalledStreamMs },
      );
      pump
        .then((outcome) => {
          if (outcome === "deadline") {
            fail(
              new StatusError(
                status.DEADLINE_EXCEEDED,
                "deadline exceeded while streaming results",
              ),
            );
            return;
          }
          if (outcome === "stalled") {
            fail(
              requestError(
                "LimitExceeded",
                `the stream was not read for ${limits.stalledStreamMs} ms; cancelled to free its slot`,
              ),
            );
            return;
          }
          if (outcome === "cancelled") {
            ctx.log.info({ envId: env, rowsProduced }, "batch cancelled by the client");
            finishError(
              deps,
              ctx,
              startNs,
              new StatusError(status.CANCELLED, "cancelled by the client"),
            );
            return;
          }
          ctx.log.debug({ envId: env, rowsProduced }, "batch finished");
          finishOk(deps, ctx, startNs);
        }, fail)
        .finally(() => {
          slot.release();
          metrics.batchStreamsActive.dec();
          ended = true;
          metrics.batchChunksInFlight.dec(inFlight);
        });
    },
  };
}
