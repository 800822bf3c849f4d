import { ConsoleStateMachine } from "../../../host/replication/console-state-machine.js";
import { unwrapOutcome } from "../../../host/replication/envelope.js";
import { KvStore } from "../../../host/replication/kv/kv-store.js";
import {
  decodeSessionResult,
  encodeSessionCommand,
  type SessionCommand,
  type SessionResult,
} from "../../../host/replication/sessions/session-commands.js";
import {
  type SessionLimits,
  SessionsPart,
} from "../../../host/replication/sessions/session-part.js";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import { InlineEngine } from "../../../host/runtime/inline-engine.js";
import { Registry } from "../../../host/runtime/registry.js";
import { actionIs, counterVariant, edits, withStepBody } from "../../fixtures/counter-variants.js";

/**
 * The counter cartridge (counter-v1) with two deterministic guest failures added: action 7 traps
 * (`unreachable`) and action 8 spins until its fuel runs out. Actions 0..2 behave as the counter.
 */
export function failingCounter(): Promise<Uint8Array> {
  return counterVariant(
    edits(
      withStepBody(`(if ${actionIs(7)} (then unreachable))`),
      withStepBody(`(if ${actionIs(8)} (then (loop $spin (br $spin))))`),
    ),
  );
}

/** A registry with the failing counter as counter-v1, and the async engine over it. */
export async function counterRuntime(): Promise<{ registry: Registry; engine: InlineEngine }> {
  const registry = new Registry();
  await registry.register(await failingCounter(), "counter.wasm");
  return { registry, engine: new InlineEngine(new CartridgeEngine(registry)) };
}

/** A console state machine (KV + sessions) over `engine`. */
export function consoleWith(
  engine: InlineEngine,
  limits: Partial<SessionLimits> = {},
  options: { readonly coalesceSteps?: boolean } = {},
): { machine: ConsoleStateMachine; sessions: SessionsPart } {
  const sessions = new SessionsPart(engine, limits, options);
  return { machine: new ConsoleStateMachine([new KvStore(), sessions]), sessions };
}

/** Little-endian u32 action bytes. */
export function u32(value: number): Uint8Array {
  return new Uint8Array(Uint32Array.of(value).buffer);
}

/**
 * Applies session commands to a machine one by one, as slots `1, 2, ...` (the first create is
 * s1.0), by one client; decodes each outcome (a rejection throws its `ReplicationError`).
 */
export class Driver {
  index = 0;
  constructor(
    readonly machine: ConsoleStateMachine,
    readonly clientId = "alice",
  ) {}

  async raw(command: SessionCommand, clientId = this.clientId): Promise<Uint8Array> {
    this.index += 1;
    return this.machine.apply(encodeSessionCommand(command), {
      index: this.index,
      clientId,
      requestId: this.index,
    });
  }

  async run(command: SessionCommand, clientId = this.clientId): Promise<SessionResult> {
    return decodeSessionResult(unwrapOutcome(await this.raw(command, clientId)));
  }

  create(seed = 3n, stampMs = 0, clientId = this.clientId): Promise<SessionResult> {
    return this.run(
      { op: "create", envId: "counter-v1", buildId: "", seed, hint: new Uint8Array(), stampMs },
      clientId,
    );
  }

  step(sessionId: string, expectedStep: number, action: number, stampMs = 0) {
    return this.run({ op: "step", sessionId, expectedStep, action: u32(action), stampMs });
  }

  close(sessionId: string, stampMs = 0) {
    return this.run({ op: "close", sessionId, stampMs });
  }
}
