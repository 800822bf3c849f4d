import type {
  ApplyContext,
  BatchedCommand,
  StateMachine,
} from "../../host/consensus/statemachine.js";
import { ConsoleStateMachine } from "../../host/replication/console-state-machine.js";
import { PART_TAGS } from "../../host/replication/part.js";
import { SessionsPart } from "../../host/replication/sessions/session-part.js";
import type { Engine } from "../../host/runtime/engine.js";
import type { Model } from "./linearizability.js";

/** A command of the simulated key-value workload. */
export type KvInput =
  | { readonly op: "put"; readonly key: string; readonly value: string }
  | { readonly op: "get"; readonly key: string }
  | {
      readonly op: "cas";
      readonly key: string;
      readonly expected: string | null;
      readonly value: string;
    };

/** Its result: the value read, or whether the write happened. */
export type KvOutput = { readonly value: string | null } | { readonly ok: boolean };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeInput(input: KvInput): Uint8Array {
  return encoder.encode(JSON.stringify(input));
}

export function decodeOutput(data: Uint8Array): KvOutput {
  return JSON.parse(decoder.decode(data)) as KvOutput;
}

/**
 * The replicated KV store. It also remembers every request it applied (in its snapshot too) and
 * throws if one is applied twice, which is how the simulator checks "applied exactly once".
 * With `batched`, it implements `applyBatch`, so the wrapper's batched apply path runs.
 *
 * With a `runtime`, it also holds the console's real sessions part: commands tagged
 * `PART_TAGS.sessions` go to it (through the console state machine, whose `applyBatch` runs the
 * steps of different sessions of one slot concurrently), and its snapshot travels inside this
 * machine's.
 */
export class KvMachine implements StateMachine {
  private values = new Map<string, string>();
  private appliedRequests = new Set<string>();
  private lastIndex = 0;
  /** Commands applied through `applyBatch` (to show the batched path ran). */
  batchedCommands = 0;
  readonly applyBatch:
    | ((commands: readonly BatchedCommand[]) => Uint8Array[] | Promise<Uint8Array[]>)
    | undefined;
  /** The sessions part, when the machine has a runtime. */
  readonly sessions: SessionsPart | undefined;
  private readonly console: ConsoleStateMachine | undefined;

  constructor(options: { readonly batched?: boolean; readonly runtime?: Engine } = {}) {
    if (options.runtime !== undefined) {
      this.sessions = new SessionsPart(options.runtime);
      this.console = new ConsoleStateMachine([this.sessions]);
    }
    this.applyBatch =
      options.batched === true
        ? (commands) => {
            this.batchedCommands += commands.length;
            if (!commands.some(({ command }) => isSessionCommand(command))) {
              return commands.map(({ command, context }) => this.applyKv(command, context));
            }
            return this.applyMixed(commands);
          }
        : undefined;
  }

  /** In order; each run of session commands goes to the console's `applyBatch` together. */
  private async applyMixed(commands: readonly BatchedCommand[]): Promise<Uint8Array[]> {
    const results: Uint8Array[] = [];
    for (let start = 0; start < commands.length; ) {
      const first = commands[start] as BatchedCommand;
      if (!isSessionCommand(first.command)) {
        results.push(this.applyKv(first.command, first.context));
        start += 1;
        continue;
      }
      let end = start + 1;
      while (end < commands.length && isSessionCommand(commands[end]?.command)) end += 1;
      const run = commands.slice(start, end);
      for (const { context } of run) this.admit(context);
      results.push(...(await this.sessionMachine().applyBatch(run)));
      start = end;
    }
    return results;
  }

  private sessionMachine(): ConsoleStateMachine {
    if (this.console === undefined) throw new Error("a session command without a runtime");
    return this.console;
  }

  /** The sessions part's snapshot (empty without a runtime), to compare replicas. */
  sessionsSnapshot(): Uint8Array {
    return this.console?.snapshot() ?? new Uint8Array();
  }

  /** Whether `clientId`'s request `requestId` was applied (on this replica, so far). */
  hasApplied(clientId: string, requestId: number): boolean {
    return this.appliedRequests.has(`${clientId}#${requestId}`);
  }

  apply(command: Uint8Array, context: ApplyContext): Uint8Array | Promise<Uint8Array> {
    if (isSessionCommand(command)) {
      this.admit(context);
      return this.sessionMachine().apply(command, context);
    }
    return this.applyKv(command, context);
  }

  private applyKv(command: Uint8Array, context: ApplyContext): Uint8Array {
    this.admit(context);
    const input = JSON.parse(decoder.decode(command)) as KvInput;
    return encoder.encode(JSON.stringify(applyKv(this.values, input)));
  }

  /** The in-order and exactly-once checks every applied command passes. */
  private admit(context: ApplyContext): void {
    if (context.index < this.lastIndex) {
      throw new Error(`applied slot ${context.index} after slot ${this.lastIndex}`);
    }
    this.lastIndex = context.index;
    const request = `${context.clientId}#${context.requestId}`;
    if (this.appliedRequests.has(request)) {
      throw new Error(`request ${request} applied twice (slot ${context.index})`);
    }
    this.appliedRequests.add(request);
  }

  snapshot(): Uint8Array {
    return encoder.encode(
      JSON.stringify({
        values: [...this.values],
        applied: [...this.appliedRequests],
        lastIndex: this.lastIndex,
        sessions: Buffer.from(this.sessionsSnapshot()).toString("base64"),
      }),
    );
  }

  restore(snapshot: Uint8Array): void {
    const parsed = JSON.parse(decoder.decode(snapshot)) as {
      values: [string, string][];
      applied: string[];
      lastIndex: number;
      sessions: string;
    };
    if (this.console !== undefined) {
      const sessions = Buffer.from(parsed.sessions, "base64");
      if (sessions.length === 0) this.sessions?.reset();
      else this.console.restore(new Uint8Array(sessions));
    }
    this.values = new Map(parsed.values);
    this.appliedRequests = new Set(parsed.applied);
    this.lastIndex = parsed.lastIndex;
  }

  /** The value of `key`, for tests. */
  get(key: string): string | undefined {
    return this.values.get(key);
  }
}

/** Session commands start with their part tag; the KV workload's JSON starts with "{". */
function isSessionCommand(command: Uint8Array | undefined): boolean {
  return command?.[0] === PART_TAGS.sessions;
}

function applyKv(values: Map<string, string>, input: KvInput): KvOutput {
  const current = values.get(input.key) ?? null;
  switch (input.op) {
    case "put":
      values.set(input.key, input.value);
      return { ok: true };
    case "get":
      return { value: current };
    case "cas":
      if (current !== input.expected) {
        return { ok: false };
      }
      values.set(input.key, input.value);
      return { ok: true };
  }
}

/** The sequential specification of one key: a register with put, get and compare-and-set. */
export const registerModel: Model<string | null, KvInput, KvOutput> = {
  init: null,
  step(state, input, output) {
    switch (input.op) {
      case "put":
        return output === undefined || ("ok" in output && output.ok) ? input.value : undefined;
      case "get":
        if (output === undefined) {
          return state;
        }
        return "value" in output && output.value === state ? state : undefined;
      case "cas": {
        const matches = state === input.expected;
        if (output === undefined) {
          return matches ? input.value : state;
        }
        if (!("ok" in output) || output.ok !== matches) {
          return undefined;
        }
        return matches ? input.value : state;
      }
    }
  },
  stateKey(state) {
    return state === null ? "\u0000" : state;
  },
  partition(input) {
    return input.key;
  },
};
