import type { Engine } from "../../runtime/engine.js";
import type { SessionReads, WatchEvent } from "../console.js";
import { ReplicationError } from "../errors.js";
import { transitionBytes } from "./session-commands.js";
import { copyTransition } from "./session-record.js";
import { type SessionTransition, toSessionTransition } from "./session-types.js";

/** Recent transitions kept per open session for watchers (local memory, not replicated). */
const RING_TRANSITIONS = 32;
/** Most bytes all rings hold together; the least recently updated rings go first beyond it. */
const RING_BUDGET_BYTES = 32 * 1024 * 1024;
/** Recently closed sessions remembered, so a watcher learns why its session ended. */
const CLOSED_REMEMBERED = 4096;

interface Ring {
  readonly transitions: SessionTransition[];
  bytes: number;
}

/**
 * The watch side of the facade: it follows the sessions part's local events, keeps a bounded ring
 * of recent transitions per session, and serves each watcher by pulling: the watcher asks for its
 * next step, which comes from the ring, from the session's current transition, or by
 * re-simulating the session's export with the stateless runtime; otherwise it sleeps until the
 * session changes. So a slow watcher holds no queue, and memory stays bounded (a ring holds at
 * most `RING_TRANSITIONS`, all rings together at most `RING_BUDGET_BYTES`).
 */
export class SessionWatch {
  /** Rings, least recently updated first. */
  private readonly rings = new Map<string, Ring>();
  private ringBytes = 0;
  private readonly closed = new Map<string, "closed" | "expired">();
  private readonly wakers = new Map<string, Set<() => void>>();
  private readonly unsubscribe: () => void;
  private readonly stopped = new AbortController();

  constructor(
    private readonly reads: SessionReads,
    private readonly runtime: Engine,
  ) {
    this.unsubscribe = reads.subscribe((event) => {
      if (event.kind === "restored") {
        // The state was replaced wholesale: rings of sessions no longer open go, and every
        // watcher looks again (its session may have moved on, or be gone).
        for (const sessionId of [...this.rings.keys()]) {
          if (reads.get(sessionId) === undefined) this.forget(sessionId);
        }
        for (const sessionId of [...this.wakers.keys()]) this.wake(sessionId);
        return;
      }
      if (event.kind === "transition") {
        this.closed.delete(event.sessionId);
        this.remember(event.sessionId, event.transition);
      } else {
        this.forget(event.sessionId);
        this.closed.set(event.sessionId, event.reason);
        if (this.closed.size > CLOSED_REMEMBERED) {
          const oldest = this.closed.keys().next().value;
          if (oldest !== undefined) this.closed.delete(oldest);
        }
      }
      this.wake(event.sessionId);
    });
  }

  private remember(sessionId: string, transition: SessionTransition): void {
    const ring = this.rings.get(sessionId) ?? { transitions: [], bytes: 0 };
    this.rings.delete(sessionId);
    this.rings.set(sessionId, ring);
    ring.transitions.push(transition);
    ring.bytes += transitionBytes(transition);
    this.ringBytes += transitionBytes(transition);
    if (ring.transitions.length > RING_TRANSITIONS) this.dropOldest(ring);
    for (const [oldest, victim] of this.rings) {
      if (this.ringBytes <= RING_BUDGET_BYTES) break;
      if (victim === ring) {
        while (this.ringBytes > RING_BUDGET_BYTES && ring.transitions.length > 0) {
          this.dropOldest(ring);
        }
      } else {
        this.forget(oldest);
      }
    }
  }

  private dropOldest(ring: Ring): void {
    const dropped = ring.transitions.shift();
    if (dropped === undefined) return;
    ring.bytes -= transitionBytes(dropped);
    this.ringBytes -= transitionBytes(dropped);
  }

  private forget(sessionId: string): void {
    const ring = this.rings.get(sessionId);
    if (ring === undefined) return;
    this.ringBytes -= ring.bytes;
    this.rings.delete(sessionId);
  }

  close(): void {
    this.unsubscribe();
    this.stopped.abort();
    for (const sessionId of [...this.wakers.keys()]) this.wake(sessionId);
  }

  async *watch(
    sessionId: string,
    fromStep: number,
    signal?: AbortSignal,
  ): AsyncGenerator<WatchEvent, void, void> {
    if (this.reads.get(sessionId) === undefined) {
      throw new ReplicationError("NotFound", `no open session ${sessionId}`);
    }
    let next = fromStep;
    while (!signal?.aborted && !this.stopped.signal.aborted) {
      const view = this.reads.get(sessionId);
      if (view === undefined) {
        yield { kind: "closed", reason: this.closed.get(sessionId) ?? "closed" };
        return;
      }
      if (next > view.step) {
        await this.changed(sessionId, signal);
        continue;
      }
      const known =
        next === view.step
          ? view.last
          : this.rings.get(sessionId)?.transitions.find((t) => t.step === next);
      if (known !== undefined) {
        yield { kind: "transition", transition: copyTransition(known) };
        next += 1;
        continue;
      }
      for await (const transition of this.replay(sessionId, next, view.step, signal)) {
        yield { kind: "transition", transition };
        next += 1;
      }
    }
  }

  /**
   * Re-simulates steps `from .. to - 1` of the session from its export (Reset with its seed and
   * hint on its pinned build, then Step with each action): the runtime is deterministic, so these
   * are the bytes every replica applied.
   */
  private async *replay(
    sessionId: string,
    from: number,
    to: number,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<SessionTransition, void, void> {
    const exported = this.reads.exportOf(sessionId);
    if (exported === undefined) return;
    const selector = { envId: exported.envId, buildId: exported.buildId };
    const options = { signal };
    let current = await this.runtime.reset(selector, exported.seed, exported.hint, options);
    if (from === 0) yield toSessionTransition(current, 0, new Uint8Array());
    const last = Math.min(to, exported.actions.length);
    for (let step = 1; step < last; step += 1) {
      const action = exported.actions[step - 1] ?? new Uint8Array();
      current = await this.runtime.step(selector, current.state, action, options);
      if (step >= from) yield toSessionTransition(current, step, action);
    }
  }

  /** Resolves when the session next changes, the signal aborts or the watch side closes. */
  private changed(sessionId: string, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      let wakers = this.wakers.get(sessionId);
      if (wakers === undefined) {
        wakers = new Set();
        this.wakers.set(sessionId, wakers);
      }
      const done = (): void => {
        wakers.delete(done);
        if (wakers.size === 0 && this.wakers.get(sessionId) === wakers) {
          this.wakers.delete(sessionId);
        }
        signal?.removeEventListener("abort", done);
        resolve();
      };
      wakers.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  private wake(sessionId: string): void {
    const wakers = this.wakers.get(sessionId);
    if (wakers === undefined) return;
    for (const wake of [...wakers]) wake();
  }
}
