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
  /**
   * Chance per tick of starting an operation when one may start (divided by `pipelineDepth`, so
   * a pipelined client issues about as many operations as a sequential one, only overlapped).
   */
  readonly issueRate: number;
  /**
   * The engine's request window: a request is refused as stale once the client has a request
   * this many ids above it applied. After abandoning request r the client's next id is r plus
   * the window, so its next completed request closes r's window (see `closeWindows`).
   */
  readonly requestWindow: number;
  /**
   * Requests in flight at once under one client id (1: a sequential client). A pipelined client
   * keeps the window rule: it sends id `r` only while every id at or below `r - requestWindow`
   * is answered (or abandoned, see `closeWindows`).
   */
  readonly pipelineDepth: number;
  /**
   * Requests of this client in flight on one key at once. It bounds how many operations on a
   * key are open at one moment (clients times this, plus abandoned ones), which is what the
   * linearizability checker's search is exponential in.
   */
  readonly maxInFlightPerKey: number;
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
 * A KV client with up to `pipelineDepth` requests in flight under one client id (one: a
 * sequential client). It answers to the engine's contract:
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
  /** Requests in flight, oldest (lowest id) first. */
  private inFlight: InFlightOp[] = [];
  /** Inputs refused `NotLeader` that wait for the window to let them go out under a new id. */
  private backlog: KvInput[] = [];
  private leaderHint: string | undefined;
  private lastValue = new Map<string, string | null>();
  /**
   * Abandoned request ids whose window is still open: no request `requestWindow` ids above it
   * has completed yet (see `closeWindows`).
   */
  private openAbandoned: number[] = [];
  /** The most requests this client ever had in flight at once. */
  maxInFlight = 0;
  /** When set, operations are retried until they complete (the liveness phase). */
  persistent = false;

  constructor(id: string, cluster: SimCluster, options: ClientOptions) {
    this.id = id;
    this.sessionId = id;
    this.cluster = cluster;
    this.options = options;
  }

  idle(): boolean {
    return this.inFlight.length === 0 && this.backlog.length === 0;
  }

  /** Whether the depth and the window let the next request id go out now. */
  private mayIssue(): boolean {
    const oldest = this.inFlight[0];
    return (
      this.inFlight.length < this.options.pipelineDepth &&
      (oldest === undefined || this.nextRequestId < oldest.requestId + this.options.requestWindow)
    );
  }

  /** The keys on which this client may start another request now. */
  private freeKeys(): readonly string[] {
    if (this.inFlight.length === 0) {
      return this.options.keys;
    }
    return this.options.keys.filter(
      (key) =>
        this.inFlight.filter((op) => op.input.key === key).length < this.options.maxInFlightPerKey,
    );
  }

  /**
   * One tick of client behaviour; `issue` allows starting a new operation. When issuing is off
   * and an abandoned operation's window is still open, the client issues one read, so every
   * abandoned operation of a finished run has a bounded window (see `closeWindows`).
   */
  step(issue: boolean): void {
    const now = this.cluster.now;
    const idle = this.inFlight.length === 0;
    const mayIssue = this.mayIssue();
    for (const op of [...this.inFlight]) {
      if (op.retryAt !== undefined && op.retryAt <= now) {
        op.retryAt = undefined;
        this.attempt(op);
      } else if (op.retryAt === undefined && op.attemptDeadline <= now) {
        this.retryLater(op, undefined);
      }
    }
    if (!mayIssue || !this.mayIssue()) {
      return;
    }
    const free = this.freeKeys();
    const again = this.backlog.findIndex((input) => free.includes(input.key));
    if (again >= 0) {
      const [input] = this.backlog.splice(again, 1);
      if (input !== undefined) this.begin(input, true);
    } else if (this.backlog.length > 0 || free.length === 0) {
      // A refused request waits for its key; nothing new goes out before it.
    } else if (
      issue &&
      this.cluster.random.chance(this.options.issueRate / this.options.pipelineDepth)
    ) {
      this.begin(this.randomInput(free));
    } else if (!issue && idle && this.openAbandoned.length > 0) {
      this.begin({ op: "get", key: this.cluster.random.pick(this.options.keys) });
    }
  }

  private randomInput(keys: readonly string[]): KvInput {
    const random = this.cluster.random;
    const key = random.pick(keys);
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
    this.inFlight.push(op);
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight.length);
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
        if (this.inFlight.includes(op) && latest) {
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
      this.remove(op);
      this.leaderHint = outcome.leaderHint;
      this.reissue(op.input);
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
      this.remove(op);
    }
    // The session's other requests in flight took effect, if ever, before now.
    for (const other of [...this.inFlight]) {
      this.finish(other, undefined, now);
    }
    this.history.forEach((recorded, i) => {
      if (recorded.clientId === expired && recorded.ret === Number.POSITIVE_INFINITY) {
        this.history[i] = { ...recorded, ret: now };
      }
    });
    this.openAbandoned = [];
    this.sessions += 1;
    this.sessionId = `${this.id}~${this.sessions}`;
    this.nextRequestId = 1;
    if (!uncertain) {
      this.reissue(op.input);
    }
  }

  /** Asks for `input` again as a new request, at the next tick or once the window allows. */
  private reissue(input: KvInput): void {
    if (this.mayIssue() && this.freeKeys().includes(input.key)) {
      this.begin(input, true);
    } else {
      this.backlog.push(input);
    }
  }

  private remove(op: InFlightOp): void {
    this.inFlight = this.inFlight.filter((other) => other !== op);
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
    this.remove(op);
    const window = this.options.requestWindow;
    if (output === undefined) {
      this.openAbandoned.push(op.requestId);
      this.nextRequestId = Math.max(this.nextRequestId, op.requestId + window);
    } else {
      this.openAbandoned = this.openAbandoned.filter((id) => id + window > op.requestId);
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
 * Bounds when each abandoned operation may take effect. The engine never applies a request of a
 * client once it applied one a window's worth of ids above it (it answers `StaleRequest`), so an
 * abandoned request `r` took effect, if ever, before the earliest return of a completed request
 * of the same client id at or above `r + requestWindow` (or before its session expired, which
 * the client records itself). After abandoning `r` a client's next id is `r + requestWindow`,
 * so its next completed request closes the window. The operations open at one moment are, per
 * client, those in flight and the few it abandoned since, which keeps the checker's search small.
 */
export function closeWindows(history: readonly HistoryOp[], requestWindow: number): HistoryOp[] {
  const byClient = new Map<string, HistoryOp[]>();
  for (const op of history) {
    const list = byClient.get(op.clientId) ?? [];
    list.push(op);
    byClient.set(op.clientId, list);
  }
  const closed: HistoryOp[] = [];
  for (const ops of byClient.values()) {
    ops.sort((a, b) => a.requestId - b.requestId);
    // Walking ids downwards, the earliest return of a completed request at or above each id.
    const earliestAbove: number[] = new Array(ops.length);
    let earliest = Number.POSITIVE_INFINITY;
    for (let i = ops.length - 1; i >= 0; i -= 1) {
      const op = ops[i] as HistoryOp;
      if (op.output !== undefined) earliest = Math.min(earliest, op.ret);
      earliestAbove[i] = earliest;
    }
    let next = 0;
    for (const op of ops) {
      if (op.output !== undefined) {
        closed.push(op);
        continue;
      }
      const bound = op.requestId + requestWindow;
      while (next < ops.length && (ops[next] as HistoryOp).requestId < bound) next += 1;
      const ret = Math.min(op.ret, earliestAbove[next] ?? Number.POSITIVE_INFINITY);
      closed.push(ret === op.ret ? op : { ...op, ret });
    }
  }
  return closed;
}
