/**
 * Where the manifest part puts the builds it applies: this node's registry of loaded cartridges
 * (the Engine RPCs and session steps resolve builds there). Implemented over the runtime's
 * `Registry` by `RegistryBuildHost`; the part depends only on this interface. Contract:
 *
 * - `load` checks module bytes exactly as the loader does (size cap, instructions that break
 *   determinism, imports, exports, memory, metering, the start function, manifest, exchange
 *   region), with the node's sandbox limits, and registers NOTHING. A module the loader refuses
 *   rejects with a `ReplicationError` code `BadModule` (the same verdict on every replica, as
 *   long as every node runs the same limits: fuel decides, deterministically); any other
 *   rejection is a fault of this node and halts the replica: out of memory, or the `LoadError`
 *   `Timeout` of the load watchdog (a wall clock, which differs between machines, so it may
 *   never decide a replicated outcome; the replica halts, recovers and catches up). Deploy runs
 *   the same load before it proposes, so a module that times out here is refused there first.
 * - `PendingBuild.add` registers the loaded build synchronously; `setCurrent` and `remove` change
 *   the registry synchronously. The part calls them only for changes it has decided to apply, so
 *   they must not fail for a build the part knows (a throw halts the replica).
 * - `builds` lists what the registry holds, so that after a restore the part can bring the
 *   registry back to the restored manifest (add what is missing, drop what is not in it).
 */
export interface BuildHost {
  load(bytes: Uint8Array): Promise<PendingBuild>;
  setCurrent(envId: string, buildId: string): void;
  /** Removes one build; removing an env's current build is allowed only when it is the last. */
  remove(envId: string, buildId: string): void;
  builds(): HostBuild[];
}

/** A loaded, not yet registered build. */
export interface PendingBuild {
  /** The env id the module's own manifest declares. */
  readonly envId: string;
  /** The hex sha256 of the module bytes. */
  readonly buildId: string;
  /** Registers it; `makeCurrent` is ignored for the first build of an env (it becomes current). */
  add(makeCurrent: boolean): void;
}

/** A build the host holds. */
export interface HostBuild {
  readonly envId: string;
  readonly buildId: string;
  readonly current: boolean;
}
