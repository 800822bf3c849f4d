import { ByteReader, ByteWriter, utf8Length } from "../bytes.js";
import { encodeCommand } from "../envelope.js";
import { ReplicationError } from "../errors.js";
import { KV_LIMITS } from "../limits.js";
import { PART_TAGS } from "../part.js";

/** A KV command, as a client asks for it. */
export type KvCommand =
  | { readonly op: "put"; readonly key: string; readonly value: Uint8Array }
  | { readonly op: "get"; readonly key: string }
  | {
      readonly op: "cas";
      readonly key: string;
      /** The version the key must have; 0 means the key must not exist. */
      readonly expectedVersion: number;
      readonly value: Uint8Array;
    };

/** What a KV command gave. `version` is 0 for a key that does not exist. */
export type KvResult =
  | { readonly op: "put"; readonly version: number }
  | {
      readonly op: "get";
      readonly found: boolean;
      readonly version: number;
      readonly value: Uint8Array;
    }
  | {
      readonly op: "cas";
      readonly succeeded: boolean;
      readonly version: number;
      /** The current value when the compare failed; empty on success. */
      readonly value: Uint8Array;
    };

const OPS = { put: 1, get: 2, cas: 3 } as const;

/** Checks a key and value against `KV_LIMITS`; throws `BadArgument` or `LimitExceeded`. */
export function checkKvCommand(command: KvCommand): void {
  const keyBytes = utf8Length(command.key);
  if (keyBytes === 0) throw new ReplicationError("BadArgument", "key must not be empty");
  if (keyBytes > KV_LIMITS.maxKeyBytes) {
    throw new ReplicationError(
      "LimitExceeded",
      `key is ${keyBytes} bytes; at most ${KV_LIMITS.maxKeyBytes} are allowed`,
    );
  }
  if (command.op !== "get" && command.value.length > KV_LIMITS.maxValueBytes) {
    throw new ReplicationError(
      "LimitExceeded",
      `value is ${command.value.length} bytes; at most ${KV_LIMITS.maxValueBytes} are allowed`,
    );
  }
  if (
    command.op === "cas" &&
    (!Number.isSafeInteger(command.expectedVersion) || command.expectedVersion < 0)
  ) {
    throw new ReplicationError("BadArgument", "expected version must be a non-negative integer");
  }
}

/** The body of a KV command (without the part tag). */
export function encodeKvBody(command: KvCommand): Uint8Array {
  checkKvCommand(command);
  const writer = new ByteWriter().u8(OPS[command.op]).string16(command.key);
  if (command.op === "cas") writer.u64(command.expectedVersion);
  if (command.op !== "get") writer.bytes32(command.value);
  return writer.finish();
}

/** A whole logged command for the KV part: what a client proposes. Validates limits first. */
export function encodeKvCommand(command: KvCommand): Uint8Array {
  return encodeCommand(PART_TAGS.kv, encodeKvBody(command));
}

/** Decodes a KV command body; anything malformed or over a limit throws `BadCommand`. */
export function decodeKvBody(body: Uint8Array): KvCommand {
  const reader = new ByteReader(body, "BadCommand", "kv command");
  const op = reader.u8();
  const key = reader.string16(KV_LIMITS.maxKeyBytes);
  if (key.length === 0) reader.fail("empty key");
  let command: KvCommand;
  if (op === OPS.put) {
    command = { op: "put", key, value: reader.bytes32(KV_LIMITS.maxValueBytes) };
  } else if (op === OPS.get) {
    command = { op: "get", key };
  } else if (op === OPS.cas) {
    const expectedVersion = reader.u64();
    command = { op: "cas", key, expectedVersion, value: reader.bytes32(KV_LIMITS.maxValueBytes) };
  } else {
    return reader.fail(`unknown kv op ${op}`);
  }
  reader.end();
  return command;
}

export function encodeKvResult(result: KvResult): Uint8Array {
  const writer = new ByteWriter().u8(OPS[result.op]);
  if (result.op === "put") return writer.u64(result.version).finish();
  const flag = result.op === "get" ? result.found : result.succeeded;
  return writer
    .u8(flag ? 1 : 0)
    .u64(result.version)
    .bytes32(result.value)
    .finish();
}

export function decodeKvResult(bytes: Uint8Array): KvResult {
  const reader = new ByteReader(bytes, "BadCommand", "kv result");
  const op = reader.u8();
  let result: KvResult;
  if (op === OPS.put) {
    result = { op: "put", version: reader.u64() };
  } else if (op === OPS.get || op === OPS.cas) {
    const flag = reader.u8() === 1;
    const version = reader.u64();
    const value = reader.bytes32(KV_LIMITS.maxValueBytes);
    result =
      op === OPS.get
        ? { op: "get", found: flag, version, value }
        : { op: "cas", succeeded: flag, version, value };
  } else {
    return reader.fail(`unknown kv op ${op}`);
  }
  reader.end();
  return result;
}
