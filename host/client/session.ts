import { status } from "@grpc/grpc-js";
import type { Capabilities } from "../proto/generated/engine/v1/engine.js";
import type { WatchSessionResponse } from "../proto/generated/sessions/v1/sessions.js";
import { type Action, encodeAction } from "./codec.js";
import { EngineCallError, toEngineCallError } from "./errors.js";
import {
  SESSIONS_METHODS,
  type SessionCallSettings,
  type SessionExport,
  type SessionInfo,
  type SessionsApi,
  type SessionTransition,
  toSessionInfo,
  toSessionTransition,
  wireNumber,
} from "./sessions.js";

/** What `GameSession.watch` yields: transitions in step order, then `closed` if the session ends. */
export type SessionWatchEvent =
  | { readonly kind: "transition"; readonly transition: SessionTransition }
  | { readonly kind: "closed"; readonly reason: string };

/** Options of `GameSession.watch`. */
export interface WatchOptions {
  /** The first step to receive; default: the step after the one this handle last saw. */
  readonly fromStep?: number;
  /** Aborting ends the watch quietly. */
  readonly signal?: AbortSignal;
}

/**
 * A game session held by the server (replicated by the cluster), as one player sees it. It keeps
 * the step index it expects the session to be at: `step` sends it, so two players sharing a
 * session cannot both act on the same position; the loser gets an `EngineCallError` with code
 * `StaleStep` and `currentStep`, and this handle moves to that step (read it with `get` or
 * `watch` before acting again). A failover of the cluster is a pause: calls are retried on the new
 * leader with the same request ids, so nothing is applied twice.
 */
export class GameSession {
  private expected: number;
  private index: number;

  constructor(
    private readonly api: SessionsApi,
    private readonly info: SessionInfo,
    /** The capabilities of the session's pinned build (spaces, sizes). */
    readonly capabilities: Capabilities,
    index: number,
  ) {
    this.expected = info.step;
    this.index = index;
  }

  get id(): string {
    return this.info.sessionId;
  }

  get envId(): string {
    return this.info.envId;
  }

  get buildId(): string {
    return this.info.buildId;
  }

  /** The step this handle expects the session to be at (what the next `step` sends). */
  get expectedStep(): number {
    return this.expected;
  }

  /** The first transition (the reset) when this handle created the session or attached to it. */
  get first(): SessionInfo {
    return this.info;
  }

  /**
   * Applies `action` (encoded per the build's action space) at the expected step. Throws an
   * `EngineCallError`: `StaleStep` (someone else acted first; `currentStep` says where the
   * session is), `EpisodeOver`, `IllegalAction`, `NotFound` (closed or expired), ...
   */
  async step(action: Action, settings: SessionCallSettings = {}): Promise<SessionTransition> {
    const bytes = encodeAction(this.capabilities, action);
    const expectedStep = this.expected;
    try {
      const response = await this.api.write(
        SESSIONS_METHODS.step,
        (ids) => ({
          ...ids,
          sessionId: this.id,
          expectedStep: BigInt(expectedStep),
          action: bytes,
        }),
        settings,
      );
      this.seen(wireNumber(response.index));
      if (response.transition === undefined) throw new Error("StepSession answered no transition");
      const transition = toSessionTransition(this.capabilities, response.transition);
      this.expected = Math.max(this.expected, transition.step);
      return transition;
    } catch (error) {
      if (error instanceof EngineCallError && error.currentStep !== undefined) {
        this.expected = error.currentStep;
      }
      throw error;
    }
  }

  /** The session as the node answering holds it, after this handle's own writes. */
  async get(settings: SessionCallSettings = {}): Promise<SessionInfo> {
    const response = await this.api.read(
      SESSIONS_METHODS.get,
      { sessionId: this.id, minAppliedIndex: BigInt(this.index) },
      settings,
    );
    if (response.session === undefined) throw new Error("GetSession answered no session");
    const info = toSessionInfo(response.session, this.capabilities);
    this.expected = info.step;
    return info;
  }

  /**
   * The session's transitions from `fromStep` on, then live as they are applied, until the
   * session is closed (a `closed` event ends it), `signal` aborts, or the loop is left. When the
   * node serving the stream goes away, the watch resumes on another node from the step after
   * the last one it yielded.
   */
  async *watch(options: WatchOptions = {}): AsyncGenerator<SessionWatchEvent, void, void> {
    let next = options.fromStep ?? this.expected + 1;
    let attempt = 0;
    let giveUpAt: number | undefined;
    const signal = options.signal;
    // A function, not a narrowed property: the signal aborts while the loop awaits.
    const aborted = () => signal?.aborted === true;
    while (!aborted()) {
      const address = this.api.channel.address;
      const call = this.api.channel.stream(SESSIONS_METHODS.watch, {
        sessionId: this.id,
        fromStep: BigInt(next),
        minAppliedIndex: BigInt(this.index),
      });
      const cancel = () => call.cancel();
      signal?.addEventListener("abort", cancel, { once: true });
      try {
        for await (const message of call) {
          attempt = 0;
          giveUpAt = undefined;
          const event = (message as WatchSessionResponse).event;
          if (event?.$case === "transition") {
            const transition = toSessionTransition(this.capabilities, event.value);
            next = transition.step + 1;
            this.expected = Math.max(this.expected, transition.step);
            yield { kind: "transition", transition };
          } else if (event?.$case === "closed") {
            yield { kind: "closed", reason: event.value.reason };
            return;
          }
        }
        // The node ended the stream without the session ending (it is shutting down): resume
        // elsewhere, as after an error.
        if (aborted()) return;
        throw Object.assign(new Error("the watch stream ended"), {
          code: status.UNAVAILABLE,
          details: "the watch stream ended",
        });
      } catch (error) {
        if (aborted()) return;
        giveUpAt ??= Date.now() + this.api.channel.failoverTimeoutMs;
        try {
          await this.api.channel.afterFailure(error, address, attempt, giveUpAt);
        } catch (final) {
          throw toEngineCallError(final);
        }
        attempt += 1;
      } finally {
        signal?.removeEventListener("abort", cancel);
        call.cancel();
      }
    }
  }

  /** Env, build, seed, hint and every action: replay it with the stateless Reset and Step. */
  async export(settings: SessionCallSettings = {}): Promise<SessionExport> {
    const response = await this.api.read(
      SESSIONS_METHODS.export,
      { sessionId: this.id, minAppliedIndex: BigInt(this.index) },
      settings,
    );
    return {
      envId: response.envId,
      buildId: response.buildId,
      seed: response.seed,
      hint: response.hint,
      actions: response.actions,
    };
  }

  /** Closes the session; returns the step it ended at. */
  async close(settings: SessionCallSettings = {}): Promise<number> {
    const response = await this.api.write(
      SESSIONS_METHODS.close,
      (ids) => ({ ...ids, sessionId: this.id }),
      settings,
    );
    this.seen(wireNumber(response.index));
    return wireNumber(response.step);
  }

  /** Remembers the highest log index this handle wrote at, for read-your-writes on any node. */
  private seen(index: number): void {
    this.index = Math.max(this.index, index);
  }
}
