import { createHash } from "node:crypto";
import { ByteReader, ByteWriter } from "../bytes.js";
import { MANIFEST_LIMITS } from "../limits.js";
import { shaCodec } from "./manifest-commands.js";

/** One installed build, with its module bytes (they are part of the replicated state). */
export interface BuildRecord {
  readonly envId: string;
  readonly buildId: string;
  readonly module: Uint8Array;
  readonly installedIndex: number;
  readonly deployedBy: string;
}

/** One env: its current build and its builds in install order (oldest first). */
export interface EnvRecord {
  current: string;
  readonly builds: Map<string, BuildRecord>;
}

/** The whole manifest part. */
export interface ManifestState {
  readonly envs: Map<string, EnvRecord>;
  /** Sorted, non-empty allow-lists by env id (an env without one allows any build). */
  readonly allowLists: Map<string, readonly string[]>;
  totalBytes: number;
}

const STATE_VERSION = 1;

/**
 * Canonical bytes of the state: envs sorted by id, builds in install order (the order eviction
 * uses, itself a function of the log), allow-lists sorted; equal states give equal bytes.
 */
export function encodeManifestState(state: ManifestState): Uint8Array {
  const writer = new ByteWriter().u8(STATE_VERSION).u32(state.envs.size);
  for (const envId of [...state.envs.keys()].sort()) {
    const env = state.envs.get(envId);
    if (env === undefined) continue;
    shaCodec.write(writer.string16(envId), env.current).u16(env.builds.size);
    for (const build of env.builds.values()) {
      shaCodec
        .write(writer, build.buildId)
        .u64(build.installedIndex)
        .string16(build.deployedBy)
        .bytes32(build.module);
    }
  }
  writer.u32(state.allowLists.size);
  for (const envId of [...state.allowLists.keys()].sort()) {
    const list = state.allowLists.get(envId) ?? [];
    writer.string16(envId).u16(list.length);
    for (const sha of list) shaCodec.write(writer, sha);
  }
  return writer.finish();
}

/**
 * Decodes and checks a state: limits, install order, every build's bytes against its id, the
 * current build among the builds. Anything wrong throws `BadSnapshot`.
 */
export function decodeManifestState(bytes: Uint8Array): ManifestState {
  const reader = new ByteReader(bytes, "BadSnapshot", "manifest snapshot");
  const version = reader.u8();
  if (version !== STATE_VERSION) reader.fail(`unsupported version ${version}`);
  const envCount = reader.u32();
  if (envCount > MANIFEST_LIMITS.maxEnvs) reader.fail(`${envCount} envs`);
  const envs = new Map<string, EnvRecord>();
  let totalBytes = 0;
  for (let i = 0; i < envCount; i += 1) {
    const envId = reader.string16(MANIFEST_LIMITS.maxEnvIdBytes);
    if (envs.has(envId)) reader.fail(`env ${envId} twice`);
    const current = shaCodec.read(reader);
    const buildCount = reader.u16();
    if (buildCount < 1 || buildCount > MANIFEST_LIMITS.maxBuildsPerEnv) {
      reader.fail(`env ${envId} has ${buildCount} builds`);
    }
    const builds = new Map<string, BuildRecord>();
    let lastIndex = 0;
    for (let j = 0; j < buildCount; j += 1) {
      const buildId = shaCodec.read(reader);
      const installedIndex = reader.u64();
      const deployedBy = reader.string16(MANIFEST_LIMITS.maxDeployedByBytes);
      const module = reader.bytes32(MANIFEST_LIMITS.maxModuleBytes);
      if (builds.has(buildId)) reader.fail(`build ${buildId} twice`);
      if (installedIndex <= lastIndex) reader.fail(`builds of ${envId} out of install order`);
      if (createHash("sha256").update(module).digest("hex") !== buildId) {
        reader.fail(`the bytes of build ${buildId} do not match its id`);
      }
      lastIndex = installedIndex;
      totalBytes += module.length;
      builds.set(buildId, { envId, buildId, module, installedIndex, deployedBy });
    }
    if (!builds.has(current)) reader.fail(`env ${envId}'s current build is not among its builds`);
    envs.set(envId, { current, builds });
  }
  if (totalBytes > MANIFEST_LIMITS.maxTotalModuleBytes) reader.fail(`${totalBytes} module bytes`);
  const allowCount = reader.u32();
  if (allowCount > MANIFEST_LIMITS.maxEnvs) reader.fail(`${allowCount} allow-lists`);
  const allowLists = new Map<string, readonly string[]>();
  for (let i = 0; i < allowCount; i += 1) {
    const envId = reader.string16(MANIFEST_LIMITS.maxEnvIdBytes);
    const count = reader.u16();
    if (count < 1 || count > MANIFEST_LIMITS.maxAllowedPerEnv) reader.fail(`${count} hashes`);
    const list: string[] = [];
    for (let j = 0; j < count; j += 1) list.push(shaCodec.read(reader));
    if (allowLists.has(envId)) reader.fail(`allow-list of ${envId} twice`);
    allowLists.set(envId, list);
  }
  reader.end();
  return { envs, allowLists, totalBytes };
}
