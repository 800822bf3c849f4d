import { isReplicationError } from "../errors.js";
import type { BuildHost, HostBuild } from "./build-host.js";
import type { ManifestState } from "./manifest-state.js";

const key = (envId: string, buildId: string) => `${envId}/${buildId}`;

/**
 * Brings the host's registry to exactly the builds of `state` (after a restore or reset): loads
 * and adds what is missing, makes each env's current build current, removes what the manifest
 * does not hold (a build installed after the snapshot, one registered behind the manifest's
 * back). A build the loader now refuses is a fault of this node (its limits differ from the
 * ones that accepted it): that rejects with a plain `Error`, which halts the replica.
 */
export async function syncHost(host: BuildHost, state: ManifestState): Promise<void> {
  const held = new Set(host.builds().map((b) => key(b.envId, b.buildId)));
  for (const env of state.envs.values()) {
    for (const build of env.builds.values()) {
      if (held.has(key(build.envId, build.buildId))) continue;
      let pending: Awaited<ReturnType<BuildHost["load"]>>;
      try {
        pending = await host.load(build.module);
      } catch (error) {
        if (!isReplicationError(error)) throw error;
        throw new Error(
          `cannot re-register build ${build.buildId} of ${build.envId} after a restore: ${error.message}`,
        );
      }
      if (pending.envId !== build.envId || pending.buildId !== build.buildId) {
        throw new Error(`build ${build.buildId} of ${build.envId} loaded as ${pending.envId}`);
      }
      pending.add(build.buildId === env.current);
    }
  }
  for (const [envId, env] of state.envs) host.setCurrent(envId, env.current);
  const extra = host
    .builds()
    .filter((b) => state.envs.get(b.envId)?.builds.has(b.buildId) !== true)
    // An env's current build goes last: the registry drops a current build only when it is the
    // env's last one.
    .sort((a: HostBuild, b: HostBuild) => Number(a.current) - Number(b.current));
  for (const build of extra) host.remove(build.envId, build.buildId);
}
