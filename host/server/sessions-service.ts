import { type MethodDefinition, type ServerWritableStream, status } from "@grpc/grpc-js";
import {
  type Session,
  type SessionsServer,
  SessionsService,
  type Transition,
  type WatchSessionRequest,
  type WatchSessionResponse,
} from "../proto/generated/sessions/v1/sessions.js";
import type { ReplicatedConsole, WatchEvent } from "../replication/console.js";
import { ReplicationError } from "../replication/errors.js";
import {
  episodeOver,
  type SessionTransition,
  type SessionView,
} from "../replication/sessions/session-types.js";
import { finishError, finishOk, openCall, type ServiceDeps, unaryHandler } from "./call-context.js";
import { type ForwardingOptions, LeaderForwarder, type Leadership } from "./leader-forwarding.js";
import type { ServerLimits } from "./limits.js";
import { readWait, waitedRead } from "./read-wait.js";
import { idsOf } from "./request-ids.js";
import { requestError, StatusError } from "./status.js";
import { pumpChunks } from "./stream-pump.js";
import { StreamSlots } from "./stream-slots.js";

/** Fully-qualified name of the Sessions service (health checks, reflection). */
export const SESSIONS_SERVICE_NAME = "sessions.v1.Sessions";

/**
 * What the Sessions service needs from the replicated console: `ReplicatedConsole`
 * (host/replication/console.ts) implements it, and its contract is written there (writes propose
 * and resolve once applied here; reads answer from this node's applied state).
 */
export type SessionsConsole = Pick<
  ReplicatedConsole,
  | "createSession"
  | "stepSession"
  | "closeSession"
  | "getSession"
  | "listSessions"
  | "exportSession"
  | "watch"
>;

/** Options of the Sessions service. */
export interface SessionsServiceOptions {
  /** How mutating calls reach the leader. */
  readonly forwarding: ForwardingOptions;
  /** Watch streams and read waits are bounded by these. */
  readonly limits: Pick<
    ServerLimits,
    | "maxWatchStreams"
    | "maxWatchStreamsPerClient"
    | "maxReadWaitMs"
    | "maxInFlightChunks"
    | "stalledStreamMs"
  >;
}

function toTransition(transition: SessionTransition): Transition {
  return {
    step: BigInt(transition.step),
    action: Buffer.from(transition.action),
    obs: Buffer.from(transition.obs),
    reward: transition.reward,
    playerRewards: Array.from(transition.playerRewards),
    terminated: transition.terminated,
    truncated: transition.truncated,
    currentPlayer: transition.currentPlayer,
    legalMask: Buffer.from(transition.legalMask),
  };
}

function toSession(view: SessionView, withLast: boolean): Session {
  return {
    sessionId: view.sessionId,
    envId: view.envId,
    buildId: view.buildId,
    seed: view.seed,
    hint: Buffer.from(view.hint),
    owner: view.owner,
    step: BigInt(view.step),
    episodeOver: episodeOver(view),
    state: Buffer.from(view.state),
    createdIndex: BigInt(view.createdIndex),
    lastActiveIndex: BigInt(view.lastActiveIndex),
    last: withLast ? toTransition(view.last) : undefined,
  };
}

function toWatchResponse(event: WatchEvent): WatchSessionResponse {
  if (event.kind === "transition") {
    return { event: { $case: "transition", value: toTransition(event.transition) } };
  }
  return { event: { $case: "closed", value: { reason: event.reason } } };
}

/** A step index of a request: a u64 on the wire, a safe integer here. */
function stepOf(value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ReplicationError("BadArgument", `${field} must be at most 2^53 - 1`);
  }
  return Number(value);
}

/**
 * The Sessions service over the replicated console. Writes (create, step, close) run on the
 * leader: a follower forwards them, or refuses with UNAVAILABLE and the leader's address. Reads
 * are served here, after this node applied the request's `min_applied_index`. `close()` stops
 * forwarding.
 */
export function createSessionsService(
  console: SessionsConsole,
  leadership: Leadership,
  deps: ServiceDeps,
  options: SessionsServiceOptions,
): { implementation: SessionsServer; close(): void } {
  const leader = new LeaderForwarder(leadership, options.forwarding);
  const hint = leader.withLeaderHint.bind(leader);
  const { limits } = options;
  const maxWaitMs = limits.maxReadWaitMs;
  const watchSlots = new StreamSlots(
    "WatchSession",
    limits.maxWatchStreams,
    limits.maxWatchStreamsPerClient,
  );
  const method = <Req, Res>(name: keyof typeof SessionsService) =>
    SessionsService[name] as unknown as MethodDefinition<Req, Res>;

  const implementation: SessionsServer = {
    createSession: unaryHandler(
      deps,
      "CreateSession",
      (request, _ctx, _signal, call) => {
        const ids = idsOf(request);
        // No ctx.envId: an env id a client sent must not become a metrics label before it is
        // known to exist (a guest failure names its env through the CallError itself).
        return leader.route(call, method("createSession"), async () => {
          const { index, session } = await console.createSession(
            {
              envId: request.envId,
              buildId: request.buildId,
              seed: request.seed,
              hint: request.hint,
            },
            ids,
          );
          return { session: toSession(session, true), index: BigInt(index) };
        });
      },
      hint,
    ),

    stepSession: unaryHandler(
      deps,
      "StepSession",
      (request, _ctx, _signal, call) => {
        const ids = idsOf(request);
        const expectedStep = stepOf(request.expectedStep, "expected_step");
        return leader.route(call, method("stepSession"), async () => {
          const { index, transition } = await console.stepSession(
            { sessionId: request.sessionId, expectedStep, action: request.action },
            ids,
          );
          return { transition: toTransition(transition), index: BigInt(index) };
        });
      },
      hint,
    ),

    closeSession: unaryHandler(
      deps,
      "CloseSession",
      (request, _ctx, _signal, call) => {
        const ids = idsOf(request);
        return leader.route(call, method("closeSession"), async () => {
          const { index, finalStep } = await console.closeSession(request.sessionId, ids);
          return { step: BigInt(finalStep), index: BigInt(index) };
        });
      },
      hint,
    ),

    getSession: unaryHandler(deps, "GetSession", async (request, _ctx, signal) => {
      const view = await waitedRead(signal, request.minAppliedIndex, maxWaitMs, (options) =>
        console.getSession(request.sessionId, options),
      );
      return { session: toSession(view, true) };
    }),

    listSessions: unaryHandler(deps, "ListSessions", async (request, _ctx, signal) => {
      const page = await waitedRead(signal, request.minAppliedIndex, maxWaitMs, (options) =>
        console.listSessions(
          {
            owner: request.owner === "" ? undefined : request.owner,
            pageSize: request.pageSize === 0 ? undefined : request.pageSize,
            pageToken: request.pageToken,
          },
          options,
        ),
      );
      return {
        sessions: page.sessions.map((view) => toSession(view, false)),
        nextPageToken: page.nextPageToken,
      };
    }),

    exportSession: unaryHandler(deps, "ExportSession", async (request, _ctx, signal) => {
      const exported = await waitedRead(signal, request.minAppliedIndex, maxWaitMs, (options) =>
        console.exportSession(request.sessionId, options),
      );
      return {
        envId: exported.envId,
        buildId: exported.buildId,
        seed: exported.seed,
        hint: Buffer.from(exported.hint),
        actions: exported.actions.map((action) => Buffer.from(action)),
        step: BigInt(exported.actions.length),
      };
    }),

    watchSession: (call: ServerWritableStream<WatchSessionRequest, WatchSessionResponse>) =>
      watchSession(call),
  };

  /**
   * Streams a session's transitions with flow control (stream-pump.ts): the console's watch is
   * pulled only while the client reads, it holds no queue, and the stream ends when the session
   * closes, the client cancels, its deadline passes, or it stops reading for `stalledStreamMs`.
   */
  async function watchSession(
    call: ServerWritableStream<WatchSessionRequest, WatchSessionResponse>,
  ): Promise<void> {
    const startNs = process.hrtime.bigint();
    const ctx = openCall(deps, "WatchSession", call.metadata);
    const fail = (error: unknown) => {
      const mapped = finishError(deps, ctx, startNs, error);
      if (!call.cancelled) call.emit("error", mapped.serviceError);
    };
    const slot = watchSlots.acquire(call.getPeer());
    if ("refusal" in slot) {
      fail(requestError("LimitExceeded", slot.refusal));
      return;
    }
    // Aborted when the stream ends for any reason, so that the console's watch stops waiting.
    const abort = new AbortController();
    const onGone = () => abort.abort();
    call.once("cancelled", onGone);
    const read = readWait(abort.signal, call.request.minAppliedIndex, limits.maxReadWaitMs);
    try {
      const fromStep = stepOf(call.request.fromStep, "from_step");
      // Waiting for min_applied_index first, so that a watch of a session created on another node
      // finds it.
      await console.getSession(call.request.sessionId, read.options);
      read.dispose();
      const events = console.watch(call.request.sessionId, fromStep, abort.signal);
      const iterator = events[Symbol.asyncIterator]();
      const outcome = await pumpChunks(
        call,
        {
          next: async () => {
            const next = await iterator.next();
            return next.done === true
              ? { done: true, value: undefined }
              : { done: false, value: toWatchResponse(next.value) };
          },
          return: async () => {
            abort.abort();
            await iterator.return?.();
            return { done: true, value: undefined };
          },
        },
        { onChunk: () => undefined, onInFlight: () => undefined, onWaiting: () => undefined },
        { maxInFlightChunks: limits.maxInFlightChunks, stallTimeoutMs: limits.stalledStreamMs },
      );
      if (outcome === "completed") finishOk(deps, ctx, startNs);
      else if (outcome === "stalled") {
        fail(
          requestError(
            "LimitExceeded",
            `the stream was not read for ${limits.stalledStreamMs} ms; cancelled to free its slot`,
          ),
        );
      } else if (outcome === "deadline") {
        fail(new StatusError(status.DEADLINE_EXCEEDED, "deadline exceeded while watching"));
      } else {
        finishError(
          deps,
          ctx,
          startNs,
          new StatusError(status.CANCELLED, "cancelled by the client"),
        );
      }
    } catch (error) {
      fail(read.explain(error));
    } finally {
      read.dispose();
      call.off("cancelled", onGone);
      abort.abort();
      slot.release();
    }
  }

  return { implementation, close: () => leader.close() };
}
