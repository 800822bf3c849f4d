import { LoadError } from "../../runtime/errors.js";
import type { Registry } from "../../runtime/registry.js";
import { ReplicationError } from "../errors.js";
import type { BuildHost, HostBuild, PendingBuild } from "./build-host.js";

/** The `source` the registry reports for builds the manifest installed. */
export const MANIFEST_SOURCE = "manifest";

/**
 * The {@link BuildHost} over this node's runtime `Registry`. The registry should be built with
 * `evictOldBuilds: false`: the manifest decides which builds exist.
 */
export class RegistryBuildHost implements BuildHost {
  constructor(private readonly registry: Registry) {}

  async load(bytes: Uint8Array): Promise<PendingBuild> {
    try {
      const cartridge = await this.registry.load(bytes, MANIFEST_SOURCE);
      return {
        envId: cartridge.manifest.env_id,
        buildId: cartridge.buildId,
        add: (makeCurrent) => {
          this.registry.add(cartridge, { makeCurrent });
        },
      };
    } catch (error) {
      // Only fuel may decide a replicated outcome: the load watchdog firing is this node's
      // fault (a slow or busy machine), never a verdict, so it is not a `BadModule`.
      if (!(error instanceof LoadError) || error.code === "Timeout") throw error;
      throw new ReplicationError("BadModule", `${error.code}: ${error.message}`);
    }
  }

  setCurrent(envId: string, buildId: string): void {
    this.registry.setCurrent(envId, buildId);
  }

  remove(envId: string, buildId: string): void {
    this.registry.remove(envId, buildId);
  }

  builds(): HostBuild[] {
    const out: HostBuild[] = [];
    for (const current of this.registry.list()) {
      for (const build of this.registry.builds(current.envId)) {
        out.push({
          envId: build.envId,
          buildId: build.buildId,
          current: build.buildId === current.buildId,
        });
      }
    }
    return out;
  }
}
