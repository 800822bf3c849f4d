import type { Engine } from "../runtime/engine.js";
import type { Registry } from "../runtime/registry.js";
import { CheckpointPart } from "./checkpoint/checkpoint-part.js";
import { ConsoleStateMachine } from "./console-state-machine.js";
import { KvStore } from "./kv/kv-store.js";
import { ManifestPart } from "./manifest/manifest-part.js";
import { RegistryBuildHost } from "./manifest/registry-build-host.js";
import { type SessionLimits, SessionsPart } from "./sessions/session-part.js";

/** What the console's state machine is built over: this node's registry and runtime. */
export interface ConsoleMachineOptions {
  /**
   * This node's registry, driven by the applied manifest only: build it with
   * `evictOldBuilds: false`, and change it through manifest commands, never directly.
   */
  readonly registry: Registry;
  /** The runtime engine over that registry, which runs session resets and steps. */
  readonly runtime: Engine;
  /** Session limits (tests lower them); identical on every replica. */
  readonly sessionLimits?: Partial<SessionLimits>;
  /** Size of the checkpoint window (tests lower it); identical on every replica. */
  readonly checkpointRingEntries?: number;
}

/** The console's replicated state machine and its parts (for reads, pins and health). */
export interface ConsoleMachine {
  readonly machine: ConsoleStateMachine;
  readonly kv: KvStore;
  readonly manifest: ManifestPart;
  readonly sessions: SessionsPart;
  readonly checkpoint: CheckpointPart;
}

/**
 * Wires the four parts (KV, manifest, sessions, checkpoint) into one state machine: the manifest
 * registers builds in `registry` and asks the sessions part which builds are pinned; the sessions
 * part runs guest code through `runtime`; the checkpoint part hashes every applied command.
 */
export function createConsoleMachine(options: ConsoleMachineOptions): ConsoleMachine {
  const kv = new KvStore();
  const sessions = new SessionsPart(options.runtime, options.sessionLimits);
  const manifest = new ManifestPart({
    host: new RegistryBuildHost(options.registry),
    isPinned: (envId, buildId) => sessions.isPinned(envId, buildId),
  });
  const checkpoint = new CheckpointPart(
    options.checkpointRingEntries === undefined
      ? {}
      : { ringEntries: options.checkpointRingEntries },
  );
  const machine = new ConsoleStateMachine([kv, manifest, sessions, checkpoint]);
  return { machine, kv, manifest, sessions, checkpoint };
}
