import { ConsensusError } from "../../host/consensus/core/errors.js";
import type { ProposalResult } from "../../host/consensus/engine/engine.js";
import type { SimCluster } from "./cluster.js";
import { decodeOutput, encodeInput, type KvInput, type KvOutput } from "./kv.js";
import type { Operation } from "./linearizability.js";

/** One client operation as the history records it. */
export interface HistoryOp extends Operation<KvInput, KvOutput> {
  readonly clientId: string;
  readonly requestId: number;
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
}

interface InFlightOp {
  readonly input: KvInput;
  readonly requestId: number;
  readonly call: number;
  attempts: number;
  attemptId: number;
  attemptDeadline: number;
  retryAt: number | undefined;
}

/**
 * A sequential KV client: one operation at a time, retried with the same request id after
 * `NotLeader`, `Indeterminate` or a timeout, and recorded as indeterminate if abandoned.
 */
export class SimClient {
  readonly id: string;
  readonly history: HistoryOp[] = [];
  private readonly cluster: SimCluster;
  private readonly options: ClientOptions;
  private nextRequestId = 1;
  private current: InFlightOp | undefined;
  private leaderHint: string | undefined;
  private lastValue = new Map<string, string | null>();
  /** When set, operations are retried until they complete (the liveness phase). */
  persistent = false;

  constructor(id: string, cluster: SimCluster, options: ClientOptions) {
    this.id = id;
    this.cluster = cluster;
    this.options = options;
  }

  idle(): boolean {
    return this.current === undefined;
  }

  /** One tick of client behaviour; `issue` allows starting a new operation. */
  step(issue: boolean): void {
    const now = this.cluster.now;
    const current = this.current;
    if (current === undefined) {
      if (issue && this.cluster.random.chance(this.options.issueRate)) {
        this.begin(this.randomInput());
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

  private begin(input: KvInput): void {
    const op: InFlightOp = {
      input,
      requestId: this.nextRequestId,
      call: this.cluster.nextEvent(),
      attempts: 0,
      attemptId: 0,
      attemptDeadline: 0,
      retryAt: undefined,
    };
    this.nextRequestId += 1;
    this.current = op;
    this.attempt(op);
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
    engine.submit(
      encodeInput(op.input),
      {
        clientId: this.id,
        requestId: op.requestId,
        timeoutTicks: this.options.attemptTimeoutTicks,
      },
      (outcome) => {
        if (this.current === op && op.attemptId === attemptId) {
          this.settle(op, outcome);
        }
      },
    );
  }

  private settle(op: InFlightOp, outcome: ProposalResult | ConsensusError): void {
    if (!(outcome instanceof ConsensusError)) {
      const output = decodeOutput(outcome.result);
      this.finish(op, output, this.cluster.nextEvent());
      return;
    }
    if (outcome.code === "StaleRequest") {
      this.finish(op, undefined, Number.POSITIVE_INFINITY);
      return;
    }
    this.retryLater(op, outcome.code === "NotLeader" ? outcome.leaderHint : undefined);
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
    if (output !== undefined) {
      if ("value" in output) {
        this.lastValue.set(op.input.key, output.value);
      } else if (output.ok && op.input.op !== "get") {
        this.lastValue.set(op.input.key, op.input.value);
      }
    }
    this.history.push({
      clientId: this.id,
      requestId: op.requestId,
      input: op.input,
      output,
      call: op.call,
      ret,
    });
  }
}
