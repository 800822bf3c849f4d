import type {
  ApplyContext,
  BatchedCommand,
  StateMachine,
} from "../../host/consensus/statemachine.js";
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
 */
export class KvMachine implements StateMachine {
  private values = new Map<string, string>();
  private appliedRequests = new Set<string>();
  private lastIndex = 0;
  /** Commands applied through `applyBatch` (to show the batched path ran). */
  batchedCommands = 0;
  readonly applyBatch: ((commands: readonly BatchedCommand[]) => Uint8Array[]) | undefined;

  constructor(options: { readonly batched?: boolean } = {}) {
    this.applyBatch =
      options.batched === true
        ? (commands) => {
            this.batchedCommands += commands.length;
            return commands.map(({ command, context }) => this.apply(command, context));
          }
        : undefined;
  }

  /** Whether `clientId`'s request `requestId` was applied (on this replica, so far). */
  hasApplied(clientId: string, requestId: number): boolean {
    return this.appliedRequests.has(`${clientId}#${requestId}`);
  }

  apply(command: Uint8Array, context: ApplyContext): Uint8Array {
    if (context.index < this.lastIndex) {
      throw new Error(`applied slot ${context.index} after slot ${this.lastIndex}`);
    }
    this.lastIndex = context.index;
    const request = `${context.clientId}#${context.requestId}`;
    if (this.appliedRequests.has(request)) {
      throw new Error(`request ${request} applied twice (slot ${context.index})`);
    }
    this.appliedRequests.add(request);
    const input = JSON.parse(decoder.decode(command)) as KvInput;
    return encoder.encode(JSON.stringify(applyKv(this.values, input)));
  }

  snapshot(): Uint8Array {
    return encoder.encode(
      JSON.stringify({
        values: [...this.values],
        applied: [...this.appliedRequests],
        lastIndex: this.lastIndex,
      }),
    );
  }

  restore(snapshot: Uint8Array): void {
    const parsed = JSON.parse(decoder.decode(snapshot)) as {
      values: [string, string][];
      applied: string[];
      lastIndex: number;
    };
    this.values = new Map(parsed.values);
    this.appliedRequests = new Set(parsed.applied);
    this.lastIndex = parsed.lastIndex;
  }

  /** The value of `key`, for tests. */
  get(key: string): string | undefined {
    return this.values.get(key);
  }
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
