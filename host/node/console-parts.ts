import type { StateMachine } from "../consensus/statemachine.js";
import { CheckpointPart } from "../replication/checkpoint/checkpoint-part.js";
import { ConsoleStateMachine } from "../replication/console-state-machine.js";
import { KvStore } from "../replication/kv/kv-store.js";
import { ManifestPart } from "../replication/manifest/manifest-part.js";
import { RegistryBuildHost } from "../replication/manifest/registry-build-host.js";
import { SessionsPart } from "../replication/sessions/session-part.js";
import type { Engine } from "../runtime/engine.js";
import type { Registry } from "../runtime/registry.js";

/** The console's replicated state machine and the parts the node reads or wires further. */
export interface ConsoleParts {
  readonly stateMachine: ConsoleStateMachine & StateMachine;
  readonly manifest: ManifestPart;
  readonly sessions: SessionsPart;
  readonly checkpoint: CheckpointPart;
}

/**
 * Assembles the console's replicated state machine: the cluster KV, the manifest (driving
 * `registry`, which must not evict builds by itself) and the game sessions (run by `runtime`,
 * which resolves builds in that registry) and the checkpoint part (the divergence detector's
 * running hash), each under its fixed tag (host/replication/part.ts).
 */
export function createConsoleParts(registry: Registry, runtime: Engine): ConsoleParts {
  const sessions = new SessionsPart(runtime);
  const manifest = new ManifestPart({
    host: new RegistryBuildHost(registry),
    isPinned: (envId, buildId) => sessions.isPinned(envId, buildId),
  });
  const checkpoint = new CheckpointPart();
  const stateMachine = new ConsoleStateMachine([new KvStore(), manifest, sessions, checkpoint]);
  return { stateMachine, manifest, sessions, checkpoint };
}
