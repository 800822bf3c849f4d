import type { Ballot } from "./core/ballot.js";
import type { Command, Entry } from "./core/entry.js";
import { ConsensusError, invariant } from "./core/errors.js";
import { decodeRsmSnapshot, encodeRsmSnapshot } from "./rsm-snapshot.js";
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
  private readonly sessionOptions: Partial<SessionOptions>;
  private sessions: SessionTable;
  /** The last slot whose apply completed (what `appliedIndex` reports). */
  private applied = 0;
  /**
   * The slot whose apply started and has not completed, if any: while it is set nothing else
   * (apply, snapshot, restore) may run. It stays set after a failed apply, whose state is
   * unknown (the driver halts the replica).
   */
  private applying: number | undefined;

  constructor(machine: StateMachine, options: Partial<SessionOptions> = {}) {
    this.machine = machine;
    this.sessionOptions = options;
    this.sessions = new SessionTable(options);
  }

  /**
   * The last slot applied completely: a slot whose asynchronous apply is still pending is not
   * counted, so a reader waiting for it (read-your-writes) or a snapshot never sees half of it.
   */
  appliedIndex(): number {
    return this.applied;
  }

  /** The number of open client sessions (for metrics and tests). */
  sessionCount(): number {
    return this.sessions.size();
  }

  /**
   * Applies one committed slot; an already applied slot is ignored (returns no outcomes). The
   * applied index moves to the slot only when its apply has completed (synchronously, or when
   * the returned promise resolves); until then every other call throws.
   */
  applyEntry(entry: Entry): CommandOutcome[] | Promise<CommandOutcome[]> {
    this.checkIdle("applyEntry called");
    if (entry.index <= this.applied) {
      return [];
    }
    if (entry.index !== this.applied + 1) {
      throw new ConsensusError(
        "InvariantViolated",
        `slot ${entry.index} applied after ${this.applied}: slots must be applied in order`,
      );
    }
    // A throw or a rejection leaves `applying` set: the slot's state is unknown (the driver
    // halts the replica), so nothing may run on it any more.
    this.applying = entry.index;
    const outcomes = this.applyCommands(entry);
    if (outcomes instanceof Promise) {
      return outcomes.then((done) => {
        this.completed(entry.index);
        return done;
      });
    }
    this.completed(entry.index);
    return outcomes;
  }

  private completed(index: number): void {
    this.applied = index;
    this.applying = undefined;
  }

  private checkIdle(what: string): void {
    invariant(
      this.applying === undefined,
      `${what} while the apply of slot ${this.applying} is pending`,
    );
  }

  private applyCommands(entry: Entry): CommandOutcome[] | Promise<CommandOutcome[]> {
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
        return result.then((value) => {
          decision.answer.result = checkResult(value);
          outcomes.push(outcomeOf(entry, command, decision));
          return this.applyInOrder(entry, commands, i + 1, outcomes);
        });
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
      return results.then(finish);
    }
    return finish(results);
  }

  /**
   * Serialises the applied index, the session table and the wrapped machine's state, in the
   * canonical binary format of `rsm-snapshot.ts`.
   */
  snapshot(): Uint8Array {
    this.checkIdle("snapshot taken");
    return encodeRsmSnapshot({
      applied: this.applied,
      sessions: this.sessions.exportState(),
      state: this.machine.snapshot(),
    });
  }

  /**
   * Replaces everything with a snapshot produced by `snapshot()`. A snapshot this build cannot
   * read (garbage, another version, the old JSON format) throws `SnapshotDecodeError` before
   * anything changes.
   */
  restore(snapshot: Uint8Array): void {
    this.checkIdle("snapshot restored");
    const decoded = decodeRsmSnapshot(snapshot);
    const sessions = new SessionTable(this.sessionOptions);
    sessions.importState(decoded.sessions);
    this.machine.restore(decoded.state);
    this.sessions = sessions;
    this.applied = decoded.applied;
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
