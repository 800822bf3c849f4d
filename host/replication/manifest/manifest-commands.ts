import { ENV_ID_PATTERN } from "../../runtime/manifest.js";
import { ByteReader, ByteWriter, utf8Length } from "../bytes.js";
import { encodeCommand } from "../envelope.js";
import { ReplicationError } from "../errors.js";
import { MANIFEST_LIMITS } from "../limits.js";
import { PART_TAGS } from "../part.js";

/**
 * A manifest command, as a client (through the node) asks for it. Build ids are the lowercase hex
 * sha256 of the module bytes, as the loader computes them.
 */
export type ManifestCommand =
  | {
      readonly op: "install";
      readonly envId: string;
      /** Hex sha256 the bytes must have; every replica checks it. */
      readonly sha256: string;
      readonly module: Uint8Array;
      readonly makeCurrent: boolean;
      /**
       * Who deployed it: stamped by the node that received the call, from the caller's
       * authenticated identity ("" when authentication is off). Recorded with the build.
       */
      readonly deployedBy: string;
    }
  | { readonly op: "setCurrent"; readonly envId: string; readonly buildId: string }
  | { readonly op: "retire"; readonly envId: string; readonly buildId: string }
  | {
      /** Replaces the env's allow-list of build hashes; an empty list allows any build. */
      readonly op: "allow";
      readonly envId: string;
      readonly sha256s: readonly string[];
    };

/** One build of the applied manifest, as the read API and results report it. */
export interface BuildInfo {
  readonly envId: string;
  readonly buildId: string;
  readonly current: boolean;
  /** The log index of the install that added it. */
  readonly installedIndex: number;
  readonly deployedBy: string;
  readonly sizeBytes: number;
}

/** What a manifest command gave. */
export type ManifestResult =
  | {
      readonly op: "install";
      readonly build: BuildInfo;
      /** False when the build was already installed (an idempotent repeat). */
      readonly created: boolean;
      /** Builds retired to stay within `maxBuildsPerEnv`, oldest first. */
      readonly retired: readonly string[];
    }
  | { readonly op: "setCurrent"; readonly build: BuildInfo; readonly previousBuildId: string }
  | { readonly op: "retire"; readonly envId: string; readonly buildId: string }
  | { readonly op: "allow"; readonly envId: string; readonly sha256s: readonly string[] };

const OPS = { install: 1, setCurrent: 2, retire: 3, allow: 4 } as const;
const SHA256_BYTES = 32;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Throws `BadArgument` unless `envId` is a well-formed env id (`name-v1`) within the limit. */
export function checkEnvId(envId: string): void {
  if (utf8Length(envId) > MANIFEST_LIMITS.maxEnvIdBytes) {
    throw new ReplicationError(
      "BadArgument",
      `env id is longer than ${MANIFEST_LIMITS.maxEnvIdBytes} bytes`,
    );
  }
  if (!ENV_ID_PATTERN.test(envId)) {
    throw new ReplicationError(
      "BadArgument",
      `env id ${JSON.stringify(envId)} must look like name-v1`,
    );
  }
}

/** Throws `BadArgument` unless `value` is 64 lowercase hex digits. */
export function checkSha256(value: string, what = "sha256"): void {
  if (!SHA256_HEX.test(value)) {
    throw new ReplicationError(
      "BadArgument",
      `${what} must be 64 lowercase hex digits, got ${JSON.stringify(value.slice(0, 80))}`,
    );
  }
}

/** Checks a command against its rules and `MANIFEST_LIMITS`; throws `BadArgument`/`LimitExceeded`. */
export function checkManifestCommand(command: ManifestCommand): void {
  checkEnvId(command.envId);
  switch (command.op) {
    case "install": {
      checkSha256(command.sha256);
      if (command.module.length === 0) {
        throw new ReplicationError("BadArgument", "the module is empty");
      }
      if (command.module.length > MANIFEST_LIMITS.maxModuleBytes) {
        throw new ReplicationError(
          "LimitExceeded",
          `module is ${command.module.length} bytes; at most ${MANIFEST_LIMITS.maxModuleBytes} are allowed`,
        );
      }
      if (utf8Length(command.deployedBy) > MANIFEST_LIMITS.maxDeployedByBytes) {
        throw new ReplicationError(
          "LimitExceeded",
          `deployed-by identity is longer than ${MANIFEST_LIMITS.maxDeployedByBytes} bytes`,
        );
      }
      return;
    }
    case "setCurrent":
    case "retire":
      checkSha256(command.buildId, "build id");
      return;
    case "allow": {
      if (command.sha256s.length > MANIFEST_LIMITS.maxAllowedPerEnv) {
        throw new ReplicationError(
          "LimitExceeded",
          `allow-list has ${command.sha256s.length} hashes; at most ${MANIFEST_LIMITS.maxAllowedPerEnv} are allowed`,
        );
      }
      for (const sha of command.sha256s) checkSha256(sha);
      if (new Set(command.sha256s).size !== command.sha256s.length) {
        throw new ReplicationError("BadArgument", "allow-list names a hash twice");
      }
      return;
    }
  }
}

function writeSha(writer: ByteWriter, hex: string): ByteWriter {
  return writer.raw(Buffer.from(hex, "hex"));
}

function readSha(reader: ByteReader): string {
  return Buffer.from(reader.raw(SHA256_BYTES)).toString("hex");
}

/** The body of a manifest command (without the part tag). Validates first. */
export function encodeManifestBody(command: ManifestCommand): Uint8Array {
  checkManifestCommand(command);
  const writer = new ByteWriter().u8(OPS[command.op]).string16(command.envId);
  switch (command.op) {
    case "install":
      writeSha(writer, command.sha256)
        .u8(command.makeCurrent ? 1 : 0)
        .string16(command.deployedBy)
        .bytes32(command.module);
      break;
    case "setCurrent":
    case "retire":
      writeSha(writer, command.buildId);
      break;
    case "allow":
      writer.u16(command.sha256s.length);
      for (const sha of command.sha256s) writeSha(writer, sha);
      break;
  }
  return writer.finish();
}

/** A whole logged command for the manifest part: what the node proposes. Validates first. */
export function encodeManifestCommand(command: ManifestCommand): Uint8Array {
  return encodeCommand(PART_TAGS.manifest, encodeManifestBody(command));
}

/**
 * Decodes a manifest command body; anything malformed or over a limit throws `BadCommand` (a
 * committed command that breaks a rule is rejected identically on every replica).
 */
export function decodeManifestBody(body: Uint8Array): ManifestCommand {
  const reader = new ByteReader(body, "BadCommand", "manifest command");
  const op = reader.u8();
  const envId = reader.string16(MANIFEST_LIMITS.maxEnvIdBytes);
  let command: ManifestCommand;
  if (op === OPS.install) {
    const sha256 = readSha(reader);
    const makeCurrent = reader.u8() === 1;
    const deployedBy = reader.string16(MANIFEST_LIMITS.maxDeployedByBytes);
    const module = reader.bytes32(MANIFEST_LIMITS.maxModuleBytes);
    command = { op: "install", envId, sha256, module, makeCurrent, deployedBy };
  } else if (op === OPS.setCurrent || op === OPS.retire) {
    const buildId = readSha(reader);
    command = { op: op === OPS.setCurrent ? "setCurrent" : "retire", envId, buildId };
  } else if (op === OPS.allow) {
    const count = reader.u16();
    if (count > MANIFEST_LIMITS.maxAllowedPerEnv) reader.fail(`${count} allowed hashes`);
    const sha256s: string[] = [];
    for (let i = 0; i < count; i += 1) sha256s.push(readSha(reader));
    command = { op: "allow", envId, sha256s };
  } else {
    return reader.fail(`unknown manifest op ${op}`);
  }
  reader.end();
  try {
    checkManifestCommand(command);
  } catch (error) {
    if (error instanceof ReplicationError) reader.fail(error.message);
    throw error;
  }
  return command;
}

function writeBuild(writer: ByteWriter, build: BuildInfo): ByteWriter {
  return writeSha(writer.string16(build.envId), build.buildId)
    .u8(build.current ? 1 : 0)
    .u64(build.installedIndex)
    .string16(build.deployedBy)
    .u32(build.sizeBytes);
}

function readBuild(reader: ByteReader): BuildInfo {
  return {
    envId: reader.string16(MANIFEST_LIMITS.maxEnvIdBytes),
    buildId: readSha(reader),
    current: reader.u8() === 1,
    installedIndex: reader.u64(),
    deployedBy: reader.string16(MANIFEST_LIMITS.maxDeployedByBytes),
    sizeBytes: reader.u32(),
  };
}

export function encodeManifestResult(result: ManifestResult): Uint8Array {
  const writer = new ByteWriter().u8(OPS[result.op]);
  switch (result.op) {
    case "install":
      writeBuild(writer, result.build)
        .u8(result.created ? 1 : 0)
        .u16(result.retired.length);
      for (const id of result.retired) writeSha(writer, id);
      break;
    case "setCurrent":
      writeSha(writeBuild(writer, result.build), result.previousBuildId);
      break;
    case "retire":
      writeSha(writer.string16(result.envId), result.buildId);
      break;
    case "allow":
      writer.string16(result.envId).u16(result.sha256s.length);
      for (const sha of result.sha256s) writeSha(writer, sha);
      break;
  }
  return writer.finish();
}

export function decodeManifestResult(bytes: Uint8Array): ManifestResult {
  const reader = new ByteReader(bytes, "BadCommand", "manifest result");
  const op = reader.u8();
  let result: ManifestResult;
  if (op === OPS.install) {
    const build = readBuild(reader);
    const created = reader.u8() === 1;
    const count = reader.u16();
    const retired: string[] = [];
    for (let i = 0; i < count; i += 1) retired.push(readSha(reader));
    result = { op: "install", build, created, retired };
  } else if (op === OPS.setCurrent) {
    result = { op: "setCurrent", build: readBuild(reader), previousBuildId: readSha(reader) };
  } else if (op === OPS.retire) {
    result = {
      op: "retire",
      envId: reader.string16(MANIFEST_LIMITS.maxEnvIdBytes),
      buildId: readSha(reader),
    };
  } else if (op === OPS.allow) {
    const envId = reader.string16(MANIFEST_LIMITS.maxEnvIdBytes);
    const count = reader.u16();
    const sha256s: string[] = [];
    for (let i = 0; i < count; i += 1) sha256s.push(readSha(reader));
    result = { op: "allow", envId, sha256s };
  } else {
    return reader.fail(`unknown manifest op ${op}`);
  }
  reader.end();
  return result;
}

/** Writes/reads a sha256 as 32 raw bytes (shared with the part's snapshot). */
export const shaCodec = { write: writeSha, read: readSha } as const;
