import { ConsensusError } from "../../host/consensus/core/errors.js";
import type { ProposalResult } from "../../host/consensus/engine/engine.js";
import type { SimCluster } from "./cluster.js";
import { decodeOutput, encodeInput, type KvInput, type KvOutput } from "./kv.js";
import type { Operation } from "./linearizability.js";

/**
 * One client operation as the history records it. `output` is undefined when the outcome is
 * unknown (abandoned after timeouts and `Indeterminate` answers); `ret` is then infinite until
 * `closeWindows` bounds it.
 */
export interface HistoryOp extends Operation<KvInput, KvOutput> {
  readonly clientId: string;
  readonly requestId: number;
}

/** A request the cluster answered `NotLeader`: by contract it was never applied. */
export interface RejectedRequest {
  readonly clientId: string;
  readonly requestId: number;
  readonly at: number;
}

/** Client behaviour limits. */
export interface ClientOptions {
  readonly keys: readonly string[];
  /** Ticks an attempt may take before the client retries elsewhere. */
  readonly attemptTimeoutTicks: number;
  /** Attempts before an operation is abandoned as indeterminate (unless `persistent`). */
  readonly maxAttempts: number;
  /** Chance per idle tick of starting an operation. */
  readonly issueRate: number;
  /**
   * The engine's request window: a request is refused as stale once the client has a request
   * this many ids above it applied. After abandoning request r the client's next id is r plus
   * the window, so its next completed request closes r's window (see `closeWindows`).
   */
  readonly requestWindow: number;
}

interface InFlightOp {
  readonly input: KvInput;
  readonly requestId: number;
  readonly call: number;
  attempts: number;
  attemptId: number;
  attemptDeadline: number;
  retryAt: number | undefined;
  /** Every attempt that reached an engine, and what that engine answered so far. */
  readonly sent: SentAttempt[];
}

interface SentAttempt {
  readonly attemptId: number;
  readonly engine: object;
  /**
   * `open`: no answer yet; `unknown`: answered with an unknown fate; `notLeader`: not taken;
   * `applied`: answered with a result.
   */
  state: "open" | "unknown" | "notLeader" | "applied";
}

/**
 * A sequential KV client: one request in flight at a time. It answers to the engine's contract:
 * after `Indeterminate`, `Timeout` or `Stopped` (fate unknown) it retries with the same request
 * id, and records the operation as unknown if it gives up; `NotLeader` means "definitely not
 * applied", so the request is recorded as rejected and the operation is issued again with a new
 * request id at the hinted leader (a rejected request that was applied anyway is a contract
 * violation the simulator reports).
 */
export class SimClient {
  readonly id: string;
  /** The client id requests carry: a new one after the engine reports the session expired. */
  private sessionId: string;
  private sessions = 1;
  readonly history: HistoryOp[] = [];
  readonly rejected: RejectedRequest[] = [];
  private readonly cluster: SimCluster;
  private readonly options: ClientOptions;
  private nextRequestId = 1;
  private current: InFlightOp | undefined;
  private leaderHint: string | undefined;
  private lastValue = new Map<string, string | null>();
  /** Whether an operation was abandoned since this client's last completed one. */
  private windowOpen = false;
  /** When set, operations are retried until they complete (the liveness phase). */
  persistent = false;

  constructor(id: string, cluster: SimCluster, options: ClientOptions) {
    this.id = id;
    this.sessionId = id;
    this.cluster = cluster;
    this.options = options;
  }

  idle(): boolean {
    return this.current === undefined;
  }

  /**
   * One tick of client behaviour; `issue` allows starting a new operation. When issuing is off
   * and an abandoned operation's window is still open, the client issues one read, so every
   * abandoned operation of a finished run has a bounded window (see `closeWindows`).
   */
  step(issue: boolean): void {
    const now = this.cluster.now;
    const current = this.current;
    if (current === undefined) {
      if (issue && this.cluster.random.chance(this.options.issueRate)) {
        this.begin(this.randomInput());
      } else if (!issue && this.windowOpen) {
        this.begin({ op: "get", key: this.cluster.random.pick(this.options.keys) });
      }
      return;
    }
    if (current.retryAt !== undefined && current.retryAt <= now) {
      current.retryAt = undefined;
      this.attempt(current);
    } else if (current.retryAt === undefined && current.attemptDeadline <= now) {
      this.retryLater(current, undefined);
    }
  }

  private randomInput(): KvInput {
    const random = this.cluster.random;
    const key = random.pick(this.options.keys);
    const value = `${this.id}.${this.nextRequestId}`;
    const kind = random.nextInt(10);
    if (kind < 4) {
      return { op: "put", key, value };
    }
    if (kind < 7) {
      return { op: "get", key };
    }
    return { op: "cas", key, expected: this.lastValue.get(key) ?? null, value };
  }

  /** Starts a new request for `input`, now or (`delayed`) at the next tick. */
  private begin(input: KvInput, delayed = false): void {
    const requestId = this.nextRequestId;
    this.nextRequestId += 1;
    const op: InFlightOp = {
      // A value names the request that writes it, so every written value is unique.
      input: input.op === "get" ? input : { ...input, value: `${this.sessionId}.${requestId}` },
      requestId,
      call: this.cluster.nextEvent(),
      attempts: 0,
      attemptId: 0,
      attemptDeadline: 0,
      retryAt: undefined,
      sent: [],
    };
    this.current = op;
    if (delayed) {
      op.retryAt = this.cluster.now + 1;
    } else {
      this.attempt(op);
    }
  }

  private attempt(op: InFlightOp): void {
    const cluster = this.cluster;
    op.attempts += 1;
    op.attemptId += 1;
    const attemptId = op.attemptId;
    op.attemptDeadline = cluster.now + this.options.attemptTimeoutTicks;
    const hinted = this.leaderHint === undefined ? undefined : cluster.nodeByName(this.leaderHint);
    const target = hinted ?? cluster.random.pick(cluster.nodes);
    this.leaderHint = undefined;
    const engine = target.engine;
    if (engine === undefined || !cluster.isAvailable(target)) {
      // The request vanishes into a dead or frozen process; the attempt deadline catches it.
      return;
    }
    const sent: SentAttempt = { attemptId, engine, state: "open" };
    op.sent.push(sent);
    engine.submit(
      encodeInput(op.input),
      {
        clientId: this.sessionId,
        requestId: op.requestId,
        timeoutTicks: this.options.attemptTimeoutTicks,
      },
      (outcome) => {
        if (outcome instanceof ConsensusError) {
          sent.state = outcome.code === "NotLeader" ? "notLeader" : "unknown";
        } else {
          sent.state = "applied";
        }
        // A late success still tells the result; a late failure is superseded by the retry.
        const latest = op.attemptId === attemptId || !(outcome instanceof ConsensusError);
        if (this.current === op && latest) {
          this.settle(op, sent, outcome);
        }
      },
    );
  }

  private settle(
    op: InFlightOp,
    attempt: SentAttempt,
    outcome: ProposalResult | ConsensusError,
  ): void {
    if (!(outcome instanceof ConsensusError)) {
      const output = decodeOutput(outcome.result);
      this.finish(op, output, this.cluster.nextEvent());
      return;
    }
    // NotLeader is definite when no copy of the request can be in a slot unbeknown to the
    // engine that answered: every other copy was refused, or is still held by that engine
    // (a retry merged with an earlier copy). A copy whose fate an engine already reported as
    // unknown (Indeterminate, Timeout) may sit in a slot the answering engine forgot.
    const definite = op.sent.every(
      (other) =>
        other === attempt ||
        other.state === "notLeader" ||
        (other.engine === attempt.engine && other.state === "open"),
    );
    if (outcome.code === "NotLeader" && definite) {
      // Definitely not applied: record it so, and ask again as a new request.
      this.rejected.push({
        clientId: this.sessionId,
        requestId: op.requestId,
        at: this.cluster.now,
      });
      this.current = undefined;
      this.leaderHint = outcome.leaderHint;
      this.begin(op.input, true);
      return;
    }
    const code: string = outcome.code;
    if (code === "SessionExpired") {
      this.sessionExpired(op, attempt);
      return;
    }
    if (outcome.code === "StaleRequest") {
      this.finish(op, undefined, Number.POSITIVE_INFINITY);
      return;
    }
    if (outcome.code === "NotLeader") {
      // An earlier copy went to another engine and may have been placed there: this answer
      // only says this engine did not take the retry. Retry at the hint, same request id.
      this.retryLater(op, outcome.leaderHint);
      return;
    }
    this.retryLater(op, undefined);
  }

  /**
   * The session is gone: nothing of it is applied from now on, so every operation of it whose
   * outcome is unknown took effect, if ever, before now. This request itself is definitely not
   * applied if no earlier attempt of it can be in a slot. The operation is asked again under a
   * new client id (a new session).
   */
  private sessionExpired(op: InFlightOp, attempt: SentAttempt): void {
    const now = this.cluster.nextEvent();
    const expired = this.sessionId;
    const uncertain = op.sent.some((other) => other !== attempt && other.state !== "notLeader");
    if (uncertain) {
      this.finish(op, undefined, now);
    } else {
      this.rejected.push({ clientId: expired, requestId: op.requestId, at: this.cluster.now });
      this.current = undefined;
    }
    this.history.forEach((recorded, i) => {
      if (recorded.clientId === expired && recorded.ret === Number.POSITIVE_INFINITY) {
        this.history[i] = { ...recorded, ret: now };
      }
    });
    this.windowOpen = false;
    this.sessions += 1;
    this.sessionId = `${this.id}~${this.sessions}`;
    this.nextRequestId = 1;
    if (!uncertain) {
      this.begin(op.input, true);
    }
  }

  private retryLater(op: InFlightOp, hint: string | undefined): void {
    if (!this.persistent && op.attempts >= this.options.maxAttempts) {
      this.finish(op, undefined, Number.POSITIVE_INFINITY);
      return;
    }
    this.leaderHint = hint;
    op.attemptId += 1;
    op.retryAt = this.cluster.now + (hint === undefined ? this.cluster.random.between(1, 3) : 1);
  }

  private finish(op: InFlightOp, output: KvOutput | undefined, ret: number): void {
    this.current = undefined;
    this.windowOpen = output === undefined;
    if (output === undefined) {
      this.nextRequestId = Math.max(this.nextRequestId, op.requestId + this.options.requestWindow);
    }
    if (output !== undefined) {
      if ("value" in output) {
        this.lastValue.set(op.input.key, output.value);
      } else if (output.ok && op.input.op !== "get") {
        this.lastValue.set(op.input.key, op.input.value);
      }
    }
    this.history.push({
      clientId: this.sessionId,
      requestId: op.requestId,
      input: op.input,
      output,
      call: op.call,
      ret,
    });
  }
}

/**
 * Bounds when each abandoned operation may take effect. A client's requests carry increasing
 * ids, the engine never applies a request a window's worth of ids older than one it already
 * applied for that client (it answers `StaleRequest`), and after abandoning a request the client
 * skips a window's worth of ids, so an abandoned request took effect, if ever, before the same
 * client's next completed request returned (or before its session expired). So the operations open at one moment are, per
 * client, its current one and the few it abandoned since its last completed one, which is what
 * keeps the checker's search small.
 */
export function closeWindows(history: readonly HistoryOp[]): HistoryOp[] {
  const byClient = new Map<string, HistoryOp[]>();
  for (const op of history) {
    const list = byClient.get(op.clientId) ?? [];
    list.push(op);
    byClient.set(op.clientId, list);
  }
  const closed: HistoryOp[] = [];
  for (const ops of byClient.values()) {
    ops.sort((a, b) => a.requestId - b.requestId);
    let open: HistoryOp[] = [];
    for (const op of ops) {
      if (op.output === undefined) {
        open.push(op);
        continue;
      }
      for (const abandoned of open) {
        closed.push({ ...abandoned, ret: op.ret });
      }
      open = [];
      closed.push(op);
    }
    closed.push(...open);
  }
  return closed;
}
