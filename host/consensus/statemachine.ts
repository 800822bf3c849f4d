import type { Ballot } from "./core/ballot.js";
import type { Command, Entry } from "./core/entry.js";
import { ConsensusError, invariant } from "./core/errors.js";
import { type SessionDecision, type SessionOptions, SessionTable } from "./sessions.js";

/** Where a command sits in the log, handed to the state machine with it. */
export interface ApplyContext {
  readonly index: number;
  readonly clientId: string;
  readonly requestId: number;
}

/**
 * The application's replicated state machine. Contract:
 *
 * - Deterministic: the same commands in the same order give the same results and the same
 *   snapshot on every replica. No clocks, no randomness, no I/O whose outcome can differ.
 * - `apply` (and `applyBatch`) may return a promise, e.g. to run the command in a worker thread.
 *   The driver applies committed commands strictly in log order, one call at a time, and awaits
 *   each before the next; nothing else (no other apply, no `snapshot`, no `restore`) runs while a
 *   call is pending. `snapshot()` is only ever called between applies.
 * - A command that fails deterministically (bad input, a guest trap that every replica would hit)
 *   is not an error of the machine: encode the failure in the result bytes. A thrown error or a
 *   rejected promise means this replica could not apply the command (a crashed worker, out of
 *   memory): the driver halts the replica, because its state may now differ from the others'.
 *   Such a failure is never written to the state or answered to a client.
 */
export interface StateMachine {
  /** Applies one committed command and returns its result (see the interface contract). */
  apply(command: Uint8Array, context: ApplyContext): Uint8Array | Promise<Uint8Array>;
  /**
   * Optional: applies the new (non-duplicate) commands of one slot together, in order, and
   * returns one result per command. It must have the same effect as calling `apply` on each.
   */
  applyBatch?(commands: readonly BatchedCommand[]): Uint8Array[] | Promise<Uint8Array[]>;
  /** Serialises the whole state; only called between applies. */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot produced by `snapshot()`. */
  restore(snapshot: Uint8Array): void;
}

/** One command handed to `applyBatch`. */
export interface BatchedCommand {
  readonly command: Uint8Array;
  readonly context: ApplyContext;
}

/** Why a command of a committed slot was not applied. */
export type CommandError = "StaleRequest" | "SessionExpired";

/** The outcome of one command of a committed slot. */
export interface CommandOutcome {
  readonly index: number;
  readonly ballot: Ballot;
  readonly clientId: string;
  readonly requestId: number;
  /** The state machine's result; for a duplicate, the result of the first application. */
  readonly result: Uint8Array | undefined;
  /** Set when the command was not applied (see {@link SessionTable}). */
  readonly error: CommandError | undefined;
  /** A bounded, human-readable explanation of `error`. */
  readonly errorMessage?: string;
  /** True when this was a retry of an already applied request. */
  readonly duplicate: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Wraps a {@link StateMachine} with what every replica must do identically: apply committed slots
 * in index order exactly once (re-delivery of an applied index is ignored), and answer client
 * requests through the client-session table ({@link SessionTable}): a retry gets the first
 * application's result, a request of an expired session gets `SessionExpired`, never a second
 * application. The table is derived from the log alone, so every replica holds the same one, and
 * it is part of the snapshot, so it survives leader changes and restarts.
 *
 * `applyEntry` returns synchronously when the machine does, and a promise otherwise; the caller
 * must not call anything else until that promise settles.
 */
export class ReplicatedStateMachine {
  private readonly machine: StateMachine;
  private readonly sessions: SessionTable;
  private applied = 0;
  private busy = false;

  constructor(machine: StateMachine, options: Partial<SessionOptions> = {}) {
    this.machine = machine;
    this.sessions = new SessionTable(options);
  }

  /** The last slot applied. */
  appliedIndex(): number {
    return this.applied;
  }

  /** The number of open client sessions (for metrics and tests). */
  sessionCount(): number {
    return this.sessions.size();
  }

  /** Applies one committed slot; an already applied slot is ignored (returns no outcomes). */
  applyEntry(entry: Entry): CommandOutcome[] | Promise<CommandOutcome[]> {
    invariant(!this.busy, "applyEntry called while an apply is pending");
    if (entry.index <= this.applied) {
      return [];
    }
    if (entry.index !== this.applied + 1) {
      throw new ConsensusError(
        "InvariantViolated",
        `slot ${entry.index} applied after ${this.applied}: slots must be applied in order`,
      );
    }
    this.applied = entry.index;
    this.sessions.expire(entry.index);
    if (entry.value.kind === "noop") {
      return [];
    }
    const commands = entry.value.commands;
    if (this.machine.applyBatch !== undefined && commands.length > 1) {
      return this.applySlotAsBatch(entry, commands);
    }
    return this.applyInOrder(entry, commands, 0, []);
  }

  /** The one-at-a-time path; continues asynchronously at the first command that is async. */
  private applyInOrder(
    entry: Entry,
    commands: readonly Command[],
    from: number,
    outcomes: CommandOutcome[],
  ): CommandOutcome[] | Promise<CommandOutcome[]> {
    for (let i = from; i < commands.length; i += 1) {
      const command = commands[i];
      invariant(command !== undefined, "command missing");
      const decision = this.sessions.admit(command.clientId, command.requestId, entry.index);
      if (decision.kind !== "apply") {
        outcomes.push(outcomeOf(entry, command, decision));
        continue;
      }
      const context = {
        index: entry.index,
        clientId: command.clientId,
        requestId: command.requestId,
      };
      const result = this.machine.apply(command.payload, context);
      if (result instanceof Promise) {
        return this.pending(
          result.then((value) => {
            decision.answer.result = checkResult(value);
            outcomes.push(outcomeOf(entry, command, decision));
          }),
        ).then(() => this.applyInOrder(entry, commands, i + 1, outcomes));
      }
      decision.answer.result = checkResult(result);
      outcomes.push(outcomeOf(entry, command, decision));
    }
    return outcomes;
  }

  /**
   * The batch path: decide first, in command order, which commands are new (a retry later in the
   * same slot is a duplicate of the earlier copy), apply the new ones in one call, then fill in
   * their answers: the same outcomes and table as the one-at-a-time path.
   */
  private applySlotAsBatch(
    entry: Entry,
    commands: readonly Command[],
  ): CommandOutcome[] | Promise<CommandOutcome[]> {
    const decisions: SessionDecision[] = [];
    const fresh: BatchedCommand[] = [];
    const freshDecisions: Extract<SessionDecision, { kind: "apply" }>[] = [];
    for (const { clientId, requestId, payload } of commands) {
      const decision = this.sessions.admit(clientId, requestId, entry.index);
      decisions.push(decision);
      if (decision.kind === "apply") {
        fresh.push({ command: payload, context: { index: entry.index, clientId, requestId } });
        freshDecisions.push(decision);
      }
    }
    const finish = (results: readonly Uint8Array[]): CommandOutcome[] => {
      invariant(results.length === fresh.length, "applyBatch must return one result per command");
      freshDecisions.forEach((decision, i) => {
        decision.answer.result = checkResult(results[i]);
      });
      return commands.map((command, i) => {
        const decision = decisions[i];
        invariant(decision !== undefined, "decision missing");
        return outcomeOf(entry, command, decision);
      });
    };
    if (fresh.length === 0) {
      return finish([]);
    }
    const results = this.machine.applyBatch?.(fresh) ?? [];
    if (results instanceof Promise) {
      return this.pending(results).then(finish);
    }
    return finish(results);
  }

  /** Marks the machine busy until `work` settles, so no call can interleave with it. */
  private pending<T>(work: Promise<T>): Promise<T> {
    this.busy = true;
    return work.finally(() => {
      this.busy = false;
    });
  }

  /** Serialises the applied index, the session table and the wrapped machine's state. */
  snapshot(): Uint8Array {
    invariant(!this.busy, "snapshot taken while an apply is pending");
    const state = Buffer.from(this.machine.snapshot()).toString("base64");
    return encoder.encode(
      JSON.stringify({ applied: this.applied, sessions: this.sessions.toJSON(), state }),
    );
  }

  /** Replaces everything with a snapshot produced by `snapshot()`. */
  restore(snapshot: Uint8Array): void {
    invariant(!this.busy, "snapshot restored while an apply is pending");
    const parsed = JSON.parse(decoder.decode(snapshot)) as {
      applied: number;
      sessions: unknown;
      state: string;
    };
    invariant(Number.isSafeInteger(parsed.applied), "snapshot lacks an applied index");
    this.sessions.fromJSON(parsed.sessions);
    this.machine.restore(new Uint8Array(Buffer.from(parsed.state, "base64")));
    this.applied = parsed.applied;
  }
}

function checkResult(result: Uint8Array | undefined): Uint8Array {
  invariant(result instanceof Uint8Array, "a state machine must return bytes");
  return result;
}

function outcomeOf(entry: Entry, command: Command, decision: SessionDecision): CommandOutcome {
  // Built field by field (no spread): this runs once per command on the hot path.
  const rejected = decision.kind === "reject";
  return {
    index: entry.index,
    ballot: entry.ballot,
    clientId: command.clientId,
    requestId: command.requestId,
    result: rejected ? undefined : decision.answer.result,
    error: rejected ? decision.error : undefined,
    errorMessage: rejected ? decision.message : undefined,
    duplicate: decision.kind !== "apply",
  };
}
