import type { Ballot } from "./core/ballot.js";
import type { Command, Entry } from "./core/entry.js";
import { ConsensusError, invariant } from "./core/errors.js";

/** Where a command sits in the log, handed to the state machine with it. */
export interface ApplyContext {
  readonly index: number;
  readonly clientId: string;
  readonly requestId: number;
}

/**
 * The application's replicated state machine. It must be deterministic: the same commands in the
 * same order give the same results and the same snapshot on every replica.
 */
export interface StateMachine {
  /** Applies one committed command and returns its result. */
  apply(command: Uint8Array, context: ApplyContext): Uint8Array;
  /**
   * Optional: applies the new (non-duplicate) commands of one slot together, in order, and
   * returns one result per command. It must have the same effect as calling `apply` on each.
   */
  applyBatch?(commands: readonly BatchedCommand[]): Uint8Array[];
  /** Serialises the whole state. */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot produced by `snapshot()`. */
  restore(snapshot: Uint8Array): void;
}

/** One command handed to `applyBatch`. */
export interface BatchedCommand {
  readonly command: Uint8Array;
  readonly context: ApplyContext;
}

/** The outcome of one command of a committed slot. */
export interface CommandOutcome {
  readonly index: number;
  readonly ballot: Ballot;
  readonly clientId: string;
  readonly requestId: number;
  /** The state machine's result; for a duplicate, the result of the first application. */
  readonly result: Uint8Array | undefined;
  /** Set when the command was not applied because a newer request of its client was. */
  readonly error: "StaleRequest" | undefined;
  /** A bounded, human-readable explanation of `error`. */
  readonly errorMessage?: string;
  /** True when this was a retry of an already applied request. */
  readonly duplicate: boolean;
}

interface ClientRecord {
  requestId: number;
  result: Uint8Array;
  index: number;
}

/** Limits of the client-session table; they must be identical on every replica. */
export interface SessionOptions {
  /** Most clients remembered; beyond it the client whose last request is oldest is forgotten. */
  readonly maxClients: number;
}

const DEFAULT_SESSION_OPTIONS: SessionOptions = { maxClients: 100_000 };

/**
 * Client ids starting with this character are anonymous: never deduplicated and never
 * remembered. Engines give proposals without a client id such an id, unique to the engine's
 * incarnation, so their outcomes reach the right caller.
 */
export const ANONYMOUS_CLIENT_PREFIX = "\u0000";

function isAnonymous(clientId: string): boolean {
  return clientId.length === 0 || clientId.startsWith(ANONYMOUS_CLIENT_PREFIX);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Wraps a {@link StateMachine} with what every replica must do identically: apply committed slots
 * in index order exactly once (re-delivery of an applied index is ignored), and deduplicate
 * retried client requests. The dedupe table is derived from the log alone, so every replica has
 * the same table, and it is part of the snapshot, so it survives leader changes and restarts.
 *
 * Anonymous commands (see {@link ANONYMOUS_CLIENT_PREFIX}) are never deduplicated.
 */
export class ReplicatedStateMachine {
  private readonly machine: StateMachine;
  private readonly options: SessionOptions;
  private readonly clients = new Map<string, ClientRecord>();
  private applied = 0;

  constructor(machine: StateMachine, options: Partial<SessionOptions> = {}) {
    const merged = { ...DEFAULT_SESSION_OPTIONS, ...options };
    invariant(merged.maxClients > 0, "maxClients must be positive");
    this.machine = machine;
    this.options = merged;
  }

  /** The last slot applied. */
  appliedIndex(): number {
    return this.applied;
  }

  /** Applies one committed slot; an already applied slot is ignored (returns no outcomes). */
  applyEntry(entry: Entry): CommandOutcome[] {
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
    if (entry.value.kind === "noop") {
      return [];
    }
    if (this.machine.applyBatch !== undefined && entry.value.commands.length > 1) {
      return this.applySlotAsBatch(entry, entry.value.commands);
    }
    const outcomes: CommandOutcome[] = [];
    for (const command of entry.value.commands) {
      outcomes.push(this.applyCommand(entry, command.clientId, command.requestId, command.payload));
    }
    return outcomes;
  }

  /**
   * The batch path: decide first which commands are new (a retry later in the same slot is a
   * duplicate of the earlier copy), apply the new ones in one call, then update the table in
   * command order, exactly as the one-at-a-time path would (given `maxClients` exceeds the
   * number of commands in a slot, so no client of this slot is evicted within it).
   */
  private applySlotAsBatch(entry: Entry, commands: readonly Command[]): CommandOutcome[] {
    const fresh: BatchedCommand[] = [];
    const plan: { fresh: number | undefined; result: Uint8Array | undefined; stale: boolean }[] =
      [];
    const inSlot = new Map<string, { requestId: number; fresh: number }>();
    for (const { clientId, requestId, payload } of commands) {
      const newer = isAnonymous(clientId) ? undefined : inSlot.get(clientId);
      const known = isAnonymous(clientId) ? undefined : this.clients.get(clientId);
      const last = newer?.requestId ?? known?.requestId;
      if (last !== undefined && requestId <= last) {
        const same = requestId === last;
        plan.push({
          fresh: same ? newer?.fresh : undefined,
          result: same && newer === undefined ? known?.result : undefined,
          stale: !same,
        });
        continue;
      }
      const context = { index: entry.index, clientId, requestId };
      inSlot.set(clientId, { requestId, fresh: fresh.length });
      plan.push({ fresh: fresh.length, result: undefined, stale: false });
      fresh.push({ command: payload, context });
    }
    const results = fresh.length === 0 ? [] : (this.machine.applyBatch?.(fresh) ?? []);
    invariant(results.length === fresh.length, "applyBatch must return one result per command");
    const outcomes: CommandOutcome[] = [];
    const seen = new Set<number>();
    for (let i = 0; i < commands.length; i += 1) {
      const command = commands[i];
      const step = plan[i];
      invariant(command !== undefined && step !== undefined, "plan out of step with commands");
      const { clientId, requestId } = command;
      const base = { index: entry.index, ballot: entry.ballot, clientId, requestId };
      if (step.stale) {
        outcomes.push({ ...base, result: undefined, error: "StaleRequest", duplicate: true });
        continue;
      }
      const first = step.fresh !== undefined && !seen.has(step.fresh);
      const result = step.fresh === undefined ? step.result : results[step.fresh];
      invariant(result !== undefined, "a duplicate must have a result");
      if (first && step.fresh !== undefined) {
        seen.add(step.fresh);
        if (!isAnonymous(clientId)) {
          this.record(clientId, requestId, result, entry.index);
        }
      }
      outcomes.push({ ...base, result, error: undefined, duplicate: !first });
    }
    return outcomes;
  }

  private record(clientId: string, requestId: number, result: Uint8Array, index: number): void {
    const known = this.clients.get(clientId);
    if (known !== undefined) {
      known.requestId = requestId;
      known.result = result;
      known.index = index;
    } else {
      this.clients.set(clientId, { requestId, result, index });
      this.evictIfFull();
    }
  }

  private applyCommand(
    entry: Entry,
    clientId: string,
    requestId: number,
    payload: Uint8Array,
  ): CommandOutcome {
    const known = isAnonymous(clientId) ? undefined : this.clients.get(clientId);
    let result: Uint8Array | undefined;
    let error: "StaleRequest" | undefined;
    let duplicate = false;
    if (known !== undefined && requestId <= known.requestId) {
      duplicate = true;
      if (requestId === known.requestId) {
        result = known.result;
      } else {
        error = "StaleRequest";
      }
    } else {
      result = this.machine.apply(payload, { index: entry.index, clientId, requestId });
      if (!isAnonymous(clientId)) {
        this.record(clientId, requestId, result, entry.index);
      }
    }
    return {
      index: entry.index,
      ballot: entry.ballot,
      clientId,
      requestId,
      result,
      error,
      duplicate,
    };
  }

  /**
   * Forgets the least recently applied eighth of the clients once the table is over its limit.
   * Every replica holds the same table and so evicts the same clients; evicting in bulk keeps
   * the scan rare.
   */
  private evictIfFull(): void {
    if (this.clients.size <= this.options.maxClients) {
      return;
    }
    const byAge = [...this.clients].sort(
      (a, b) => a[1].index - b[1].index || (a[0] < b[0] ? -1 : 1),
    );
    const evict = Math.max(1, Math.ceil(this.options.maxClients / 8));
    for (const [clientId] of byAge.slice(0, evict)) {
      this.clients.delete(clientId);
    }
    invariant(this.clients.size <= this.options.maxClients, "dedupe table over its limit");
  }

  /** Serialises the applied index, the dedupe table and the wrapped machine's state. */
  snapshot(): Uint8Array {
    const clients: [string, number, number, string][] = [];
    for (const [clientId, record] of this.clients) {
      clients.push([
        clientId,
        record.requestId,
        record.index,
        Buffer.from(record.result).toString("base64"),
      ]);
    }
    const state = Buffer.from(this.machine.snapshot()).toString("base64");
    return encoder.encode(JSON.stringify({ applied: this.applied, clients, state }));
  }

  /** Replaces everything with a snapshot produced by `snapshot()`. */
  restore(snapshot: Uint8Array): void {
    const parsed = JSON.parse(decoder.decode(snapshot)) as {
      applied: number;
      clients: [string, number, number, string][];
      state: string;
    };
    invariant(Number.isSafeInteger(parsed.applied), "snapshot lacks an applied index");
    this.clients.clear();
    for (const [clientId, requestId, index, result] of parsed.clients) {
      this.clients.set(clientId, {
        requestId,
        index,
        result: new Uint8Array(Buffer.from(result, "base64")),
      });
    }
    this.machine.restore(new Uint8Array(Buffer.from(parsed.state, "base64")));
    this.applied = parsed.applied;
  }
}
