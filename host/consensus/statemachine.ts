import type { Ballot } from "./core/ballot.js";
import type { Entry } from "./core/entry.js";
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
  /** Serialises the whole state. */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot produced by `snapshot()`. */
  restore(snapshot: Uint8Array): void;
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
  /** True when this was a retry of an already applied request. */
  readonly duplicate: boolean;
}

interface ClientRecord {
  requestId: number;
  result: Uint8Array;
  index: number;
}

/** Limits of the deduplication table. */
export interface DedupeOptions {
  /** Most clients remembered; beyond it the client whose last request is oldest is forgotten. */
  readonly maxClients: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Wraps a {@link StateMachine} with what every replica must do identically: apply committed slots
 * in index order exactly once (re-delivery of an applied index is ignored), and deduplicate
 * retried client requests. The dedupe table is derived from the log alone, so every replica has
 * the same table, and it is part of the snapshot, so it survives leader changes and restarts.
 *
 * Commands with an empty client id are never deduplicated.
 */
export class ReplicatedStateMachine {
  private readonly machine: StateMachine;
  private readonly options: DedupeOptions;
  private readonly clients = new Map<string, ClientRecord>();
  private applied = 0;

  constructor(machine: StateMachine, options: DedupeOptions = { maxClients: 100_000 }) {
    invariant(options.maxClients > 0, "maxClients must be positive");
    this.machine = machine;
    this.options = options;
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
    const outcomes: CommandOutcome[] = [];
    for (const command of entry.value.commands) {
      outcomes.push(this.applyCommand(entry, command.clientId, command.requestId, command.payload));
    }
    return outcomes;
  }

  private applyCommand(
    entry: Entry,
    clientId: string,
    requestId: number,
    payload: Uint8Array,
  ): CommandOutcome {
    const known = clientId === "" ? undefined : this.clients.get(clientId);
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
      if (known !== undefined) {
        known.requestId = requestId;
        known.result = result;
        known.index = entry.index;
      } else if (clientId !== "") {
        this.clients.set(clientId, { requestId, result, index: entry.index });
        this.evictIfFull();
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
