import type { ConsensusEngine } from "../consensus/engine/engine.js";
import type { Engine } from "../runtime/engine.js";
import { CallError } from "../runtime/errors.js";
import { waitApplied } from "./applied-wait.js";
import { unwrapOutcome } from "./envelope.js";
import { ReplicationError, StaleStepError } from "./errors.js";
import { SESSION_LIMITS } from "./limits.js";
import {
  decodeSessionResult,
  encodeSessionCommand,
  parseSessionId,
  type SessionCommand,
  type SessionKey,
  type SessionResult,
} from "./sessions/session-commands.js";
import type {
  SessionEvent,
  SessionExport,
  SessionTransition,
  SessionView,
} from "./sessions/session-types.js";
import { SessionWatch } from "./sessions/session-watch.js";

export type {
  SessionEvent,
  SessionExport,
  SessionTransition,
  SessionView,
} from "./sessions/session-types.js";

/**
 * The identity of a mutating request, as the caller sent it: the consensus client-session table
 * applies a retry (same client id and request id) once and answers it with the first result, on
 * any leader. `clientId` is also the owner of a session it creates.
 */
export interface ClientIds {
  readonly clientId: string;
  readonly requestId: number;
}

/** Options of a read served from this node's applied state. */
export interface ReadOptions {
  /**
   * Wait until this node applied at least this log index (the `index` a write returned) before
   * answering: read-your-writes on any node. Bounded by `signal`.
   */
  readonly minAppliedIndex?: number | undefined;
  /** Aborting (the call's deadline or cancellation) rejects a read still waiting. */
  readonly signal?: AbortSignal | undefined;
}

export interface CreateSessionRequest {
  readonly envId: string;
  /** Pin this build (hex sha256); omitted or "" pins the env's current build at apply time. */
  readonly buildId?: string | undefined;
  /** A u64. */
  readonly seed: bigint;
  readonly hint?: Uint8Array | undefined;
}

export interface StepSessionRequest {
  readonly sessionId: string;
  /** The step index the caller believes the session is at (optimistic concurrency). */
  readonly expectedStep: number;
  readonly action: Uint8Array;
}

/**
 * What a write returns: the log index its outcome is known at, for `minAppliedIndex` of later
 * reads (for a retry answered from the dedupe table, the later slot the retry sat in).
 */
export interface Applied {
  readonly index: number;
}

export interface ListSessionsRequest {
  /** Only the sessions this client id owns; omitted: every session. */
  readonly owner?: string | undefined;
  /** At most this many (1..`SESSION_LIMITS.maxListPage`; omitted: the maximum). */
  readonly pageSize?: number | undefined;
  /** The `nextPageToken` of the previous page; omitted: the first page. */
  readonly pageToken?: string | undefined;
}

export interface SessionPage {
  /** Sessions in creation order. */
  readonly sessions: readonly SessionView[];
  /** Pass it back for the next page; "" when this was the last one. */
  readonly nextPageToken: string;
}

/** What a watch yields: transitions in step order, then `closed` if the session ends. */
export type WatchEvent =
  | { readonly kind: "transition"; readonly transition: SessionTransition }
  | { readonly kind: "closed"; readonly reason: "closed" | "expired" };

/**
 * The read side of the sessions part the facade serves reads from (this node's applied state).
 * Contract: synchronous, never runs guest code; results are copies the caller owns; `subscribe`
 * listeners run synchronously after each applied session command, in log order, and must not
 * throw or call back into the state machine.
 */
export interface SessionReads {
  get(sessionId: string): SessionView | undefined;
  /**
   * Open sessions (of `owner` only, if given) created after `after` (all when undefined), in
   * creation order, at most `limit`.
   */
  list(owner: string | undefined, after: SessionKey | undefined, limit: number): SessionView[];
  exportOf(sessionId: string): SessionExport | undefined;
  subscribe(listener: (event: SessionEvent) => void): () => void;
}

/** What the facade needs around it. */
export interface ReplicatedConsoleOptions {
  /** The consensus engine (a `ReplicaDriver`: single node or Multi-Paxos) over the console. */
  readonly consensus: ConsensusEngine;
  /** The sessions part of that state machine (read side). */
  readonly sessions: SessionReads;
  /**
   * The node's runtime engine, for re-simulating a watch from a step older than the recent
   * transitions kept in memory (deterministic: the same bytes as the replicated steps).
   */
  readonly runtime: Engine;
  /**
   * The clock that stamps commands (ms since the epoch). Read only here, on the proposing node,
   * never in apply: idle expiry by time uses the stamps in the log. Default `Date.now`.
   */
  readonly nowMs?: () => number;
}

/**
 * The replicated console as the gRPC services see it: typed session operations over a consensus
 * engine and the console state machine. Contract:
 *
 * - Writes (`createSession`, `stepSession`, `closeSession`) propose one command with the caller's
 *   {@link ClientIds} and resolve once it is applied on this node, with the log index it took.
 *   They reject with a `ConsensusError` when the consensus layer could not give an outcome
 *   (`NotLeader`: retry at the leader; `Indeterminate`/`Timeout`: retry with the same ids), with a
 *   `ReplicationError` for a refusal every replica recorded alike (`NotFound`, `EpisodeOver`,
 *   `LimitExceeded`, `BadArgument`; `StaleStep` as a {@link StaleStepError} with the current
 *   step), or with a runtime `CallError` for a deterministic guest failure (`Trap`,
 *   `BudgetExceeded`, `IllegalAction`, `BadAction`, `UnknownEnv`, ...): the session is unchanged.
 *   Request sizes are checked before anything is proposed (`BadArgument`/`LimitExceeded`).
 * - Reads (`getSession`, `listSessions`, `exportSession`) answer from this node's applied state,
 *   after waiting for `minAppliedIndex` (bounded by the signal); a follower may be behind the
 *   leader without it.
 * - `watch` yields a session's transitions from `fromStep` on, live as they are applied here.
 */
export class ReplicatedConsole {
  private readonly consensus: ConsensusEngine;
  private readonly sessions: SessionReads;
  private readonly nowMs: () => number;
  private readonly watches: SessionWatch;

  constructor(options: ReplicatedConsoleOptions) {
    this.consensus = options.consensus;
    this.sessions = options.sessions;
    this.nowMs = options.nowMs ?? Date.now;
    this.watches = new SessionWatch(options.sessions, options.runtime);
  }

  /** Creates a session: resets the env with the seed and hint on every replica. */
  async createSession(
    request: CreateSessionRequest,
    ids: ClientIds,
  ): Promise<Applied & { readonly session: SessionView }> {
    const { index, result } = await this.propose(
      {
        op: "create",
        envId: request.envId,
        buildId: request.buildId ?? "",
        seed: request.seed,
        hint: request.hint ?? new Uint8Array(),
        stampMs: this.stamp(),
      },
      ids,
      request.envId,
    );
    if (result.op !== "create") throw unexpected(result);
    return { index, session: result.session };
  }

  /** Steps a session with one action if it is at `expectedStep`. */
  async stepSession(
    request: StepSessionRequest,
    ids: ClientIds,
  ): Promise<Applied & { readonly sessionId: string; readonly transition: SessionTransition }> {
    const { index, result } = await this.propose(
      {
        op: "step",
        sessionId: request.sessionId,
        expectedStep: request.expectedStep,
        action: request.action,
        stampMs: this.stamp(),
      },
      ids,
      undefined,
    );
    if (result.op === "stale") {
      throw new StaleStepError(result.sessionId, request.expectedStep, result.currentStep);
    }
    if (result.op !== "step") throw unexpected(result);
    return { index, sessionId: result.sessionId, transition: result.transition };
  }

  /** Closes a session (its pinned build may then be retired). */
  async closeSession(
    sessionId: string,
    ids: ClientIds,
  ): Promise<Applied & { readonly finalStep: number }> {
    const { index, result } = await this.propose(
      { op: "close", sessionId, stampMs: this.stamp() },
      ids,
      undefined,
    );
    if (result.op !== "close") throw unexpected(result);
    return { index, finalStep: result.finalStep };
  }

  /** One session from this node's applied state; `NotFound` if it is not open. */
  async getSession(sessionId: string, options: ReadOptions = {}): Promise<SessionView> {
    parseSessionId(sessionId);
    await waitApplied(this.consensus, options);
    const view = this.sessions.get(sessionId);
    if (view === undefined) throw notFound(sessionId);
    return view;
  }

  /** A page of open sessions, in creation order. */
  async listSessions(
    request: ListSessionsRequest = {},
    options: ReadOptions = {},
  ): Promise<SessionPage> {
    const pageSize = request.pageSize ?? SESSION_LIMITS.maxListPage;
    if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > SESSION_LIMITS.maxListPage) {
      throw new ReplicationError(
        "BadArgument",
        `page size must be 1 to ${SESSION_LIMITS.maxListPage}`,
      );
    }
    const after =
      request.pageToken === undefined || request.pageToken === ""
        ? undefined
        : parseSessionId(request.pageToken);
    await waitApplied(this.consensus, options);
    const sessions = this.sessions.list(request.owner, after, pageSize + 1);
    const page = sessions.slice(0, pageSize);
    const last = page[page.length - 1];
    return {
      sessions: page,
      nextPageToken: sessions.length > pageSize && last !== undefined ? last.sessionId : "",
    };
  }

  /** Build id, seed, hint and actions: enough to replay the session with the stateless engine. */
  async exportSession(sessionId: string, options: ReadOptions = {}): Promise<SessionExport> {
    parseSessionId(sessionId);
    await waitApplied(this.consensus, options);
    const exported = this.sessions.exportOf(sessionId);
    if (exported === undefined) throw notFound(sessionId);
    return exported;
  }

  /**
   * The session's transitions from step `fromStep` on (step 0 is the reset), in order, then live
   * as this node applies them; ends with a `closed` event when the session is closed or expires,
   * or quietly when `signal` aborts. `NotFound` if the session is not open when the watch starts
   * (checked at the first pull). Past steps come from a bounded ring of recent transitions, or
   * are re-simulated from the session's export with the stateless runtime (the same bytes).
   */
  watch(sessionId: string, fromStep: number, signal?: AbortSignal): AsyncIterable<WatchEvent> {
    parseSessionId(sessionId);
    if (!Number.isSafeInteger(fromStep) || fromStep < 0) {
      throw new ReplicationError("BadArgument", "from step must be a non-negative integer");
    }
    return this.watches.watch(sessionId, fromStep, signal);
  }

  /** Stops every watch (they end quietly) and unsubscribes from the part. */
  close(): void {
    this.watches.close();
  }

  private stamp(): number {
    return Math.max(0, Math.floor(this.nowMs()));
  }

  private async propose(
    command: SessionCommand,
    ids: ClientIds,
    envId: string | undefined,
  ): Promise<{ index: number; result: SessionResult }> {
    const encoded = encodeSessionCommand(command);
    const { index, result } = await this.consensus.propose(encoded, {
      clientId: ids.clientId,
      requestId: ids.requestId,
    });
    const decoded = decodeSessionResult(unwrapOutcome(result));
    if (decoded.op === "failed") {
      throw new CallError(decoded.failure.code, decoded.failure.message, envId);
    }
    return { index, result: decoded };
  }
}

function notFound(sessionId: string): ReplicationError {
  return new ReplicationError("NotFound", `no open session ${sessionId}`);
}

function unexpected(result: SessionResult): ReplicationError {
  return new ReplicationError("BadCommand", `unexpected session result ${result.op}`);
}
