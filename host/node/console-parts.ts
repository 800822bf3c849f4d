import type { StateMachine } from "../consensus/statemachine.js";
import { ConsoleStateMachine } from "../replication/console-state-machine.js";
import { KvStore } from "../replication/kv/kv-store.js";
import type { EnvCapabilities } from "../runtime/engine.js";
import type { Registry } from "../runtime/registry.js";
import type { BuildSink } from "./cartridge-folder.js";

/** What the node runs its replica over: the console state machine and its parts. */
export interface ConsoleParts {
  readonly stateMachine: StateMachine;
}

/**
 * Assembles the console's replicated state machine: every part of the log's state, each under its
 * fixed tag (host/replication/part.ts).
 */
export function createConsoleParts(): ConsoleParts {
  return { stateMachine: new ConsoleStateMachine([new KvStore()]) };
}

/**
 * The folder's sink while the manifest part is not wired: the registry directly, as before the
 * replicated console. Replaced by the manifest sink (install through the log).
 */
export function registrySink(registry: Registry): BuildSink {
  return {
    holds: (buildId) =>
      registry
        .list()
        .some((caps) => registry.builds(caps.envId).some((b) => b.buildId === buildId)),
    install: (bytes: Uint8Array, source: string): Promise<EnvCapabilities> =>
      registry.register(bytes, source),
    removeEnvOf: async (_envId: string, source: string) => {
      registry.unregisterSource(source);
    },
  };
}
