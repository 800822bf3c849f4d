import { ConsensusError, invariant } from "./core/errors.js";
import { type SessionRecord, type SessionTableState, SnapshotDecodeError } from "./rsm-snapshot.js";

/**
 * Limits of the client-session table. They are part of the replicated state's definition: every
 * replica must use the same values, or their tables (and answers) diverge.
 */
export interface SessionOptions {
  /** Most open sessions; beyond it the least recently active session is evicted. */
  readonly maxClients: number;
  /** A session with no request applied for more than this many slots expires. */
  readonly sessionTimeoutSlots: number;
  /**
   * Requests one client may have in flight. The client must not send request id `r` before it
   * holds the answer to every request id at or below `r - requestWindow`; in exchange every
   * retry of a request it still waits for gets that request's exact answer.
   */
  readonly requestWindow: number;
  /** Client ids of expired or evicted sessions remembered (oldest forgotten first). */
  readonly maxExpiredClients: number;
}

export const DEFAULT_SESSION_OPTIONS: SessionOptions = {
  maxClients: 100_000,
  sessionTimeoutSlots: 1_000_000,
  requestWindow: 32,
  maxExpiredClients: 100_000,
};

/**
 * Client ids starting with this character are anonymous: never deduplicated and never
 * remembered. Engines give proposals without a client id such an id, unique to the engine's
 * incarnation, so their outcomes reach the right caller.
 */
export const ANONYMOUS_CLIENT_PREFIX = "\u0000";

/** Whether `clientId` is anonymous (empty or NUL-led): such commands have no session. */
export function isAnonymousClient(clientId: string): boolean {
  return clientId.length === 0 || clientId.startsWith(ANONYMOUS_CLIENT_PREFIX);
}

/** The answer to one applied request; `result` is filled in once the machine returned it. */
export interface Answer {
  result: Uint8Array | undefined;
  readonly index: number;
}

/** What to do with one command of a committed slot. */
export type SessionDecision =
  /** Apply it, then store the result in `answer`. */
  | { readonly kind: "apply"; readonly answer: Answer }
  /** A retry of an applied request: answer with the stored result, apply nothing. */
  | { readonly kind: "duplicate"; readonly answer: Answer }
  /** Apply nothing and answer with this error. */
  | {
      readonly kind: "reject";
      readonly error: "StaleRequest" | "SessionExpired";
      readonly message: string;
    };

interface Session {
  lastActiveIndex: number;
  highestRequestId: number;
  /** Answers of applied requests: every one above `highestRequestId - requestWindow`, at most `requestWindow` kept. */
  readonly answers: Map<number, Answer>;
}

/** Longest client id echoed in an error message. */
const MAX_ECHOED_CLIENT_ID = 64;

/**
 * Client sessions (Raft dissertation §6.3, TigerBeetle's client table), kept in the replicated
 * state so every replica decides identically:
 *
 * - A client's first request opens its session implicitly; a new client's first requests must
 *   have ids `1..requestWindow`. A client id names one session: a client that restarts without
 *   its request counter must take a fresh client id.
 * - The session keeps the answers of its requests above `highest - requestWindow` (at most
 *   `requestWindow` answers), so a retry of any request the client may still be waiting for is
 *   answered exactly, and pipelined requests may apply in any order. A request id at or below that window is `StaleRequest`: the client
 *   already holds its answer (it sent a request a whole window above it).
 * - A session expires after `sessionTimeoutSlots` slots without an applied request, or is evicted
 *   (least recently active first) when more than `maxClients` are open. Expiry is by log
 *   position, never by a clock, so it happens at the same slot on every replica. A request of an
 *   expired session, or of an unknown client with an id above the window, is answered
 *   `SessionExpired` and never applied: the client cannot learn the fate of its earlier requests
 *   and must start over under a new client id.
 *
 * Limit: expired client ids are remembered up to `maxExpiredClients`; a retry of one of a client's
 * first `requestWindow` requests arriving after its session expired *and* its id was forgotten
 * would open a new session. Keep `maxExpiredClients` large relative to the expiry rate.
 */
export class SessionTable {
  private readonly options: SessionOptions;
  /** Open sessions, least recently active first (re-inserted on every activity). */
  private sessions = new Map<string, Session>();
  /** Client ids of expired sessions, with the slot they expired at, oldest first. */
  private expired = new Map<string, number>();

  constructor(options: Partial<SessionOptions> = {}) {
    const merged = { ...DEFAULT_SESSION_OPTIONS, ...options };
    for (const [key, value] of Object.entries(merged)) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new ConsensusError("InvalidArgument", `${key} must be a positive integer`);
      }
    }
    this.options = merged;
  }

  /** Open sessions. */
  size(): number {
    return this.sessions.size;
  }

  /** Expires every session idle for more than the timeout at slot `index`. */
  expire(index: number): void {
    for (const [clientId, session] of this.sessions) {
      if (index - session.lastActiveIndex <= this.options.sessionTimeoutSlots) {
        return;
      }
      this.close(clientId, index);
    }
  }

  /** Decides what to do with request `requestId` of `clientId` in slot `index`. */
  admit(clientId: string, requestId: number, index: number): SessionDecision {
    if (isAnonymousClient(clientId)) {
      return { kind: "apply", answer: { result: undefined, index } };
    }
    const window = this.options.requestWindow;
    let session = this.sessions.get(clientId);
    if (session === undefined) {
      const expiredAt = this.expired.get(clientId);
      if (expiredAt !== undefined || requestId > window) {
        return {
          kind: "reject",
          error: "SessionExpired",
          message:
            expiredAt !== undefined
              ? `the session of client ${echo(clientId)} expired at slot ${expiredAt}`
              : `client ${echo(clientId)} has no session (a new client starts at ids 1..${window})`,
        };
      }
      session = { lastActiveIndex: index, highestRequestId: 0, answers: new Map() };
      this.sessions.set(clientId, session);
    }
    const known = session.answers.get(requestId);
    if (known !== undefined) {
      this.touch(clientId, session, index);
      return { kind: "duplicate", answer: known };
    }
    if (requestId <= session.highestRequestId - window) {
      return {
        kind: "reject",
        error: "StaleRequest",
        message: `request ${requestId} is below the window of client ${echo(clientId)} (its answer was delivered)`,
      };
    }
    const answer: Answer = { result: undefined, index };
    session.answers.set(requestId, answer);
    if (requestId > session.highestRequestId) {
      session.highestRequestId = requestId;
    }
    if (session.answers.size > window) {
      // At most `window` ids lie above `highest - window`, so pruning restores the bound; an
      // answer kept a little longer only answers a late retry exactly.
      for (const id of session.answers.keys()) {
        if (id <= session.highestRequestId - window) {
          session.answers.delete(id);
        }
      }
    }
    this.touch(clientId, session, index);
    while (this.sessions.size > this.options.maxClients) {
      const oldest = this.sessions.keys().next().value;
      invariant(oldest !== undefined && oldest !== clientId, "evicting the active session");
      this.close(oldest, index);
    }
    return { kind: "apply", answer };
  }

  /** The table as the snapshot carries it (see `rsm-snapshot.ts`), in its own order. */
  exportState(): SessionTableState {
    const sessions: SessionRecord[] = [];
    for (const [clientId, session] of this.sessions) {
      const answers: [number, number, Uint8Array][] = [];
      for (const [requestId, answer] of session.answers) {
        invariant(answer.result !== undefined, "snapshot with an unfinished answer");
        answers.push([requestId, answer.index, answer.result]);
      }
      sessions.push({
        clientId,
        lastActiveIndex: session.lastActiveIndex,
        highestRequestId: session.highestRequestId,
        answers,
      });
    }
    return { sessions, expired: [...this.expired] };
  }

  /**
   * Replaces the table with `state` (from `exportState`, through a snapshot). Refuses, with
   * `SnapshotDecodeError` `Malformed` and the table unchanged, a state no table can be in: an
   * anonymous or repeated client id, a repeated request id.
   */
  importState(state: SessionTableState): void {
    const sessions = new Map<string, Session>();
    for (const record of state.sessions) {
      if (isAnonymousClient(record.clientId) || sessions.has(record.clientId)) {
        throw malformed(`session of client ${echo(record.clientId)}`);
      }
      const answers = new Map<number, Answer>();
      for (const [requestId, index, result] of record.answers) {
        if (answers.has(requestId)) {
          throw malformed(`request ${requestId} of client ${echo(record.clientId)} twice`);
        }
        answers.set(requestId, { index, result });
      }
      sessions.set(record.clientId, {
        lastActiveIndex: record.lastActiveIndex,
        highestRequestId: record.highestRequestId,
        answers,
      });
    }
    const expired = new Map<string, number>();
    for (const [clientId, index] of state.expired) {
      if (isAnonymousClient(clientId) || expired.has(clientId)) {
        throw malformed(`expired client ${echo(clientId)}`);
      }
      expired.set(clientId, index);
    }
    this.sessions = sessions;
    this.expired = expired;
  }

  private touch(clientId: string, session: Session, index: number): void {
    session.lastActiveIndex = index;
    this.sessions.delete(clientId);
    this.sessions.set(clientId, session);
  }

  private close(clientId: string, index: number): void {
    this.sessions.delete(clientId);
    this.expired.delete(clientId);
    this.expired.set(clientId, index);
    while (this.expired.size > this.options.maxExpiredClients) {
      const oldest = this.expired.keys().next().value;
      if (oldest === undefined) {
        break;
      }
      this.expired.delete(oldest);
    }
  }
}

function malformed(what: string): SnapshotDecodeError {
  return new SnapshotDecodeError("Malformed", `impossible session table: ${what}`);
}

function echo(clientId: string): string {
  const bounded =
    clientId.length > MAX_ECHOED_CLIENT_ID
      ? `${clientId.slice(0, MAX_ECHOED_CLIENT_ID)}...`
      : clientId;
  return JSON.stringify(bounded);
}
