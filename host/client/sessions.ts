import { randomUUID } from "node:crypto";
import { type Capabilities, EngineService } from "../proto/generated/engine/v1/engine.js";
import {
  type Session as SessionMessage,
  SessionsService,
  type Transition,
} from "../proto/generated/sessions/v1/sessions.js";
import { decodeObs, type Observation } from "./codec.js";
import { toEngineCallError } from "./errors.js";
import type { FailoverChannel, MethodOf } from "./failover-channel.js";
import { RequestWindow } from "./request-window.js";

/** Per-call options of the session API. */
export interface SessionCallSettings {
  /**
   * Deadline of the whole operation in ms from now, retries through a failover included;
   * default: the client's `failoverTimeoutMs`.
   */
  readonly timeoutMs?: number;
  /** Request id to log under on the server (x-request-id). */
  readonly requestId?: string;
}

/** One transition of a session, decoded with its build's capabilities. */
export interface SessionTransition {
  /** The step the session reached: 0 for the reset, n after the n-th action. */
  readonly step: number;
  /** The action bytes that led here (empty for step 0). */
  readonly action: Uint8Array;
  readonly obs: Observation;
  /** Reward of the player who acted (0 for step 0). */
  readonly reward: number;
  /** Reward of every player for this transition. */
  readonly playerRewards: Float32Array;
  readonly terminated: boolean;
  readonly truncated: boolean;
  /** Who acts next; -1 once the episode is over. */
  readonly currentPlayer: number;
  /** Legal-action mask of the new state (1 = legal); empty for box spaces. */
  readonly legalMask: Uint8Array;
}

/** A session as a node holds it. */
export interface SessionInfo {
  readonly sessionId: string;
  readonly envId: string;
  /** The build the session is pinned to. */
  readonly buildId: string;
  readonly seed: bigint;
  readonly hint: Uint8Array;
  /** The client id that created it. */
  readonly owner: string;
  /** The number of actions applied so far. */
  readonly step: number;
  readonly episodeOver: boolean;
  /** The current state bytes (what the stateless Step would take next). */
  readonly state: Uint8Array;
  readonly createdIndex: number;
  readonly lastActiveIndex: number;
  /** The latest transition; undefined in a list. */
  readonly last: SessionTransition | undefined;
}

/** Enough to re-simulate a session with the stateless Engine: Reset, then Step each action. */
export interface SessionExport {
  readonly envId: string;
  readonly buildId: string;
  readonly seed: bigint;
  readonly hint: Uint8Array;
  readonly actions: readonly Uint8Array[];
}

/** A page of `listSessions`. */
export interface SessionPage {
  /** Without their `last` transition (get a session for it). */
  readonly sessions: readonly SessionInfo[];
  /** Pass it as `pageToken` for the next page; "" on the last page. */
  readonly nextPageToken: string;
}

/** A u64 from the wire as a number; log indexes and steps stay far below 2^53. */
export function wireNumber(value: bigint): number {
  return Number(value);
}

/** The methods the session API calls, from the generated service definitions. */
export const SESSIONS_METHODS = {
  create: SessionsService.createSession,
  step: SessionsService.stepSession,
  get: SessionsService.getSession,
  watch: SessionsService.watchSession,
  list: SessionsService.listSessions,
  close: SessionsService.closeSession,
  export: SessionsService.exportSession,
  capabilities: EngineService.getCapabilities,
} as const;

/**
 * The replicated side of a client (sessions and manifest writes): one client id (a random UUID
 * unless given) for every write, its request ids (kept within the cluster's retry window), the
 * failover channel, and a cache of capabilities per build. Shared by every `GameSession` of the
 * client.
 */
export class SessionsApi {
  readonly clientId: string;
  private readonly window = new RequestWindow();
  private readonly caps = new Map<string, Capabilities>();

  constructor(
    readonly channel: FailoverChannel,
    clientId: string | undefined,
  ) {
    this.clientId = clientId ?? randomUUID();
  }

  /**
   * A write: takes a request id, sends `build(ids)` until it is answered, retrying through a
   * failover with the same ids (the cluster applies it once and answers retries with the first
   * answer).
   */
  async write<Req, Res>(
    definition: MethodOf<Req, Res>,
    build: (ids: { clientId: string; requestId: bigint }) => Req,
    settings: SessionCallSettings,
  ): Promise<Res> {
    const requestId = await this.window.acquire();
    try {
      return await this.channel.unary(
        definition,
        build({ clientId: this.clientId, requestId: BigInt(requestId) }),
        settings,
      );
    } catch (error) {
      throw toEngineCallError(error);
    } finally {
      this.window.release(requestId);
    }
  }

  /** A read, retried through a failover. */
  async read<Req, Res>(
    definition: MethodOf<Req, Res>,
    request: Req,
    settings: SessionCallSettings,
  ): Promise<Res> {
    try {
      return await this.channel.unary(definition, request, settings);
    } catch (error) {
      throw toEngineCallError(error);
    }
  }

  /** Capabilities of one build (cached: a build never changes). */
  async capabilities(
    envId: string,
    buildId: string,
    settings: SessionCallSettings,
  ): Promise<Capabilities> {
    const key = `${envId}@${buildId}`;
    const cached = this.caps.get(key);
    if (cached !== undefined) return cached;
    const caps = await this.read(SESSIONS_METHODS.capabilities, { envId, buildId }, settings);
    this.caps.set(key, caps);
    return caps;
  }
}

/** A transition from the wire, decoded per `caps`. */
export function toSessionTransition(caps: Capabilities, t: Transition): SessionTransition {
  return {
    step: wireNumber(t.step),
    action: t.action,
    obs: decodeObs(caps, t.obs),
    reward: t.reward,
    playerRewards: Float32Array.from(t.playerRewards),
    terminated: t.terminated,
    truncated: t.truncated,
    currentPlayer: t.currentPlayer,
    legalMask: t.legalMask,
  };
}

/** A session from the wire; `caps` decodes its last transition (absent in a list). */
export function toSessionInfo(
  message: SessionMessage,
  caps: Capabilities | undefined,
): SessionInfo {
  return {
    sessionId: message.sessionId,
    envId: message.envId,
    buildId: message.buildId,
    seed: message.seed,
    hint: message.hint,
    owner: message.owner,
    step: wireNumber(message.step),
    episodeOver: message.episodeOver,
    state: message.state,
    createdIndex: wireNumber(message.createdIndex),
    lastActiveIndex: wireNumber(message.lastActiveIndex),
    last:
      caps === undefined || message.last === undefined
        ? undefined
        : toSessionTransition(caps, message.last),
  };
}
