import { createHash } from "node:crypto";
import type { ApplyContext } from "../../../host/consensus/statemachine.js";
import { ConsoleStateMachine } from "../../../host/replication/console-state-machine.js";
import { decodeOutcome, type Outcome } from "../../../host/replication/envelope.js";
import { KvStore } from "../../../host/replication/kv/kv-store.js";
import {
  decodeManifestResult,
  encodeManifestCommand,
  type ManifestCommand,
  type ManifestResult,
} from "../../../host/replication/manifest/manifest-commands.js";
import { ManifestPart } from "../../../host/replication/manifest/manifest-part.js";
import { RegistryBuildHost } from "../../../host/replication/manifest/registry-build-host.js";
import { Registry, type RegistryOptions } from "../../../host/runtime/registry.js";
import { counterBuild } from "../../fixtures/counter-variants.js";

export const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** Counter builds compiled once per test file (compiling WAT is the slow part). */
const builds = new Map<string, Promise<Uint8Array>>();
export function build(bonus: number, envId = "counter-v1"): Promise<Uint8Array> {
  const key = `${envId}/${bonus}`;
  let bytes = builds.get(key);
  if (bytes === undefined) {
    bytes = counterBuild(bonus, envId);
    builds.set(key, bytes);
  }
  return bytes;
}

export function installOf(
  module: Uint8Array,
  options: Partial<Extract<ManifestCommand, { op: "install" }>> = {},
): ManifestCommand {
  return {
    op: "install",
    envId: "counter-v1",
    sha256: sha256(module),
    module,
    makeCurrent: true,
    deployedBy: "alice",
    ...options,
  };
}

/** One replica: a console state machine with a manifest part over its own registry. */
export class Replica {
  readonly registry: Registry;
  readonly pins = new Set<string>();
  readonly manifest: ManifestPart;
  readonly machine: ConsoleStateMachine;
  private index = 0;

  constructor(registryOptions: RegistryOptions = {}) {
    this.registry = new Registry({ ...registryOptions, evictOldBuilds: false });
    this.manifest = new ManifestPart({
      host: new RegistryBuildHost(this.registry),
      isPinned: (_envId, buildId) => this.pins.has(buildId),
    });
    this.machine = new ConsoleStateMachine([new KvStore(), this.manifest]);
  }

  async run(command: ManifestCommand): Promise<Outcome> {
    this.index += 1;
    const context: ApplyContext = { index: this.index, clientId: "c", requestId: this.index };
    return decodeOutcome(await this.machine.apply(encodeManifestCommand(command), context));
  }

  /** Applies and expects success. */
  async ok(command: ManifestCommand): Promise<ManifestResult> {
    const outcome = await this.run(command);
    if (!outcome.ok) throw new Error(`${outcome.code}: ${outcome.message}`);
    return decodeManifestResult(outcome.body);
  }

  /** The registry's builds of an env and its current one, for comparing with the manifest. */
  registryView(envId = "counter-v1"): { builds: string[]; current: string | undefined } {
    const builds = this.registry.builds(envId).map((b) => b.buildId);
    const current =
      builds.length === 0 ? undefined : this.registry.resolve({ envId }).capabilities.buildId;
    return { builds: [...builds].sort(), current };
  }
}
