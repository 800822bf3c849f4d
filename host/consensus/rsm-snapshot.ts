import { MAX_CLIENT_ID_BYTES } from "./core/entry.js";
import { WireDecodeError, WireEncodeError } from "./wire/errors.js";
import { WireReader } from "./wire/reader.js";
import { WireWriter } from "./wire/writer.js";

/**
 * The replicated state machine's snapshot: the applied index, the client-session table and the
 * wrapped machine's own bytes, in one canonical binary encoding (integers little-endian):
 *
 * ```
 * u32 magic     "CRSM" (0x4D535243)
 * u8  version   1
 * u64 applied
 * u32 sessions  then per session, least recently active first:
 *     u16 + UTF-8 client id, u64 lastActiveIndex, u64 highestRequestId,
 *     u32 answers, then per answer (in the session's order): u64 requestId, u64 index, u32 + result
 * u32 expired   then per expired client, oldest first: u16 + UTF-8 client id, u64 expiredAt
 * u32 + state   the wrapped machine's snapshot
 * ```
 *
 * Canonical: the order of every list is the table's own (it decides eviction), so decoding and
 * encoding again gives the same bytes, and equal tables give equal snapshots on every replica.
 * Version 1 replaced a JSON + base64 encoding; snapshots in that old format are not readable
 * (they fail with `BadMagic`). A future version gets a new number; this build refuses others.
 */
export const RSM_SNAPSHOT_MAGIC = 0x4d_53_52_43;
export const RSM_SNAPSHOT_VERSION = 1;

/** One session as the snapshot carries it. */
export interface SessionRecord {
  readonly clientId: string;
  readonly lastActiveIndex: number;
  readonly highestRequestId: number;
  /** `[requestId, index, result]`, in the session's order. */
  readonly answers: readonly (readonly [number, number, Uint8Array])[];
}

/** The session table as the snapshot carries it (see `SessionTable.exportState`). */
export interface SessionTableState {
  readonly sessions: readonly SessionRecord[];
  /** `[clientId, expiredAt]`, oldest first. */
  readonly expired: readonly (readonly [string, number])[];
}

/** Everything a replicated state machine's snapshot holds. */
export interface RsmSnapshot {
  readonly applied: number;
  readonly sessions: SessionTableState;
  readonly state: Uint8Array;
}

/**
 * Why a snapshot could not be read: `BadMagic` (not an RSM snapshot, or the old JSON format),
 * `UnsupportedVersion` (written by another build), `Malformed` (truncated, trailing bytes, a
 * field outside its domain; `cause` is the decoder's error).
 */
export type SnapshotDecodeErrorCode = "BadMagic" | "UnsupportedVersion" | "Malformed";

/** The only error `decodeRsmSnapshot` throws. */
export class SnapshotDecodeError extends Error {
  override readonly name = "SnapshotDecodeError";
  readonly code: SnapshotDecodeErrorCode;

  constructor(code: SnapshotDecodeErrorCode, message: string, options?: { cause: unknown }) {
    super(`${code}: ${message}`, options);
    this.code = code;
  }
}

/** Smallest encoded session and expired entry: what a count is checked against. */
const MIN_SESSION_BYTES = 2 + 8 + 8 + 4;
const MIN_ANSWER_BYTES = 8 + 8 + 4;
const MIN_EXPIRED_BYTES = 2 + 8;

/** Encodes `snapshot`; throws `WireEncodeError` for a value outside its domain. */
export function encodeRsmSnapshot(snapshot: RsmSnapshot): Uint8Array {
  const writer = new WireWriter(1024 + snapshot.state.byteLength);
  writer.u32(RSM_SNAPSHOT_MAGIC);
  writer.u8(RSM_SNAPSHOT_VERSION);
  writer.u64(snapshot.applied, "applied");
  writer.u32(snapshot.sessions.sessions.length);
  for (const session of snapshot.sessions.sessions) {
    writer.string(session.clientId, 2, MAX_CLIENT_ID_BYTES, "client id");
    writer.u64(session.lastActiveIndex, "lastActiveIndex");
    writer.u64(session.highestRequestId, "highestRequestId");
    writer.u32(session.answers.length);
    for (const [requestId, index, result] of session.answers) {
      writer.u64(requestId, "requestId");
      writer.u64(index, "answer index");
      writer.bytesWithLength(result);
    }
  }
  writer.u32(snapshot.sessions.expired.length);
  for (const [clientId, expiredAt] of snapshot.sessions.expired) {
    writer.string(clientId, 2, MAX_CLIENT_ID_BYTES, "expired client id");
    writer.u64(expiredAt, "expiredAt");
  }
  writer.bytesWithLength(snapshot.state);
  if (writer.length > 0xffff_ffff) {
    throw new WireEncodeError("LimitExceeded", "snapshot above 4 GiB");
  }
  return new Uint8Array(writer.bytes());
}

/** Decodes a snapshot written by `encodeRsmSnapshot`; throws only {@link SnapshotDecodeError}. */
export function decodeRsmSnapshot(bytes: Uint8Array): RsmSnapshot {
  const reader = new WireReader(bytes);
  try {
    if (reader.remaining() < 5 || reader.u32("magic") !== RSM_SNAPSHOT_MAGIC) {
      throw new SnapshotDecodeError("BadMagic", "not a replicated state machine snapshot");
    }
    const version = reader.u8("version");
    if (version !== RSM_SNAPSHOT_VERSION) {
      throw new SnapshotDecodeError(
        "UnsupportedVersion",
        `snapshot version ${version}; this build reads ${RSM_SNAPSHOT_VERSION}`,
      );
    }
    const applied = reader.u64("applied");
    const sessions: SessionRecord[] = [];
    const sessionCount = count(reader, MIN_SESSION_BYTES, "sessions");
    for (let i = 0; i < sessionCount; i += 1) {
      const clientId = reader.string(2, MAX_CLIENT_ID_BYTES, "client id");
      const lastActiveIndex = reader.u64("lastActiveIndex");
      const highestRequestId = reader.u64("highestRequestId");
      const answers: [number, number, Uint8Array][] = [];
      const answerCount = count(reader, MIN_ANSWER_BYTES, "answers");
      for (let j = 0; j < answerCount; j += 1) {
        const requestId = reader.u64("requestId");
        const index = reader.u64("answer index");
        answers.push([requestId, index, reader.bytesWithLength(reader.remaining(), "result")]);
      }
      sessions.push({ clientId, lastActiveIndex, highestRequestId, answers });
    }
    const expired: [string, number][] = [];
    const expiredCount = count(reader, MIN_EXPIRED_BYTES, "expired clients");
    for (let i = 0; i < expiredCount; i += 1) {
      expired.push([reader.string(2, MAX_CLIENT_ID_BYTES, "client id"), reader.u64("expiredAt")]);
    }
    const state = reader.bytesWithLength(reader.remaining(), "state");
    if (reader.remaining() !== 0) {
      throw new WireDecodeError("TrailingBytes", `${reader.remaining()} bytes after the state`);
    }
    return { applied, sessions: { sessions, expired }, state };
  } catch (error) {
    if (error instanceof SnapshotDecodeError) throw error;
    const detail = error instanceof Error ? error.message : String(error);
    throw new SnapshotDecodeError("Malformed", detail, { cause: error });
  }
}

/** A u32 count, refused when even the smallest items of that many could not fit in the rest. */
function count(reader: WireReader, minItemBytes: number, field: string): number {
  const value = reader.u32(field);
  if (value * minItemBytes > reader.remaining()) {
    throw new WireDecodeError("Truncated", `${value} ${field} cannot fit in the bytes left`);
  }
  return value;
}
