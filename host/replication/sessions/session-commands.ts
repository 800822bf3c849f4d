import type { CallErrorCode } from "../../runtime/errors.js";
import { ByteReader, ByteWriter, utf8Length } from "../bytes.js";
import { encodeCommand } from "../envelope.js";
import { ReplicationError } from "../errors.js";
import { SESSION_LIMITS } from "../limits.js";
import { PART_TAGS } from "../part.js";
import type { SessionTransition, SessionView } from "./session-types.js";

/**
 * A session command, as the facade proposes it. `stampMs` is the proposing node's clock (ms since
 * the epoch) when it proposed: apply uses it, never a clock, for idle expiry by time.
 */
export type SessionCommand =
  | {
      readonly op: "create";
      readonly envId: string;
      /** The build to pin; "" pins the env's current build at apply time. */
      readonly buildId: string;
      /** A u64. */
      readonly seed: bigint;
      readonly hint: Uint8Array;
      readonly stampMs: number;
    }
  | {
      readonly op: "step";
      readonly sessionId: string;
      readonly expectedStep: number;
      readonly action: Uint8Array;
      readonly stampMs: number;
    }
  | { readonly op: "close"; readonly sessionId: string; readonly stampMs: number };

/**
 * A guest call that failed deterministically (fuel ran out, a trap, an illegal action, ...): the
 * same recorded outcome on every replica; the session is unchanged.
 */
export interface GuestFailure {
  readonly code: CallErrorCode;
  readonly message: string;
}

/** What a session command gave (a `NotFound`, `EpisodeOver` or limit is a rejected outcome). */
export type SessionResult =
  | { readonly op: "create"; readonly session: SessionView }
  | { readonly op: "step"; readonly sessionId: string; readonly transition: SessionTransition }
  | { readonly op: "stale"; readonly sessionId: string; readonly currentStep: number }
  | { readonly op: "failed"; readonly sessionId: string; readonly failure: GuestFailure }
  | { readonly op: "close"; readonly sessionId: string; readonly finalStep: number };

const OPS = { create: 1, step: 2, close: 3 } as const;
const RESULTS = { create: 1, step: 2, stale: 3, failed: 4, close: 5 } as const;

/** Most bytes of one state or observation in a result (the runtime's exchange bound). */
const MAX_BLOB_BYTES = 16 * 1024 * 1024;
/** Most UTF-8 bytes of a guest failure message kept in a result. */
const MAX_FAILURE_MESSAGE_BYTES = 512;
const U64_MAX = (1n << 64n) - 1n;

/** Where a session was created: the log index of its create and the create's rank in that slot. */
export interface SessionKey {
  readonly index: number;
  readonly ordinal: number;
}

const SESSION_ID_PATTERN = /^s([1-9][0-9]{0,15})\.(0|[1-9][0-9]{0,4})$/;
/** Most UTF-8 bytes of a session id ("s" + 16 digits + "." + 5 digits). */
const MAX_SESSION_ID_BYTES = 23;

/**
 * The id of the session created by the `ordinal`-th create command (from 0) of log slot `index`,
 * e.g. "s42.0": every replica derives the same id from the log alone.
 */
export function sessionIdOf(key: SessionKey): string {
  return `s${key.index}.${key.ordinal}`;
}

/** The key a session id names; a malformed id is `BadArgument` (the id is not echoed). */
export function parseSessionId(sessionId: string): SessionKey {
  const match = SESSION_ID_PATTERN.exec(sessionId);
  const index = Number(match?.[1]);
  if (match === null || !Number.isSafeInteger(index)) {
    throw new ReplicationError("BadArgument", "a session id looks like s42.0");
  }
  return { index, ordinal: Number(match[2]) };
}

/** Creation order of two session keys. */
export function compareKeys(a: SessionKey, b: SessionKey): number {
  return a.index - b.index || a.ordinal - b.ordinal;
}

function checkId(what: string, value: string, allowEmpty: boolean): void {
  const bytes = utf8Length(value);
  if (bytes === 0 && !allowEmpty) throw new ReplicationError("BadArgument", `${what} is empty`);
  if (bytes > SESSION_LIMITS.maxIdBytes) {
    throw new ReplicationError(
      "LimitExceeded",
      `${what} is ${bytes} bytes; at most ${SESSION_LIMITS.maxIdBytes} are allowed`,
    );
  }
}

function checkStamp(stampMs: number): void {
  if (!Number.isSafeInteger(stampMs) || stampMs < 0) {
    throw new ReplicationError("BadArgument", "stamp must be a non-negative integer");
  }
}

/** Checks a command against `SESSION_LIMITS`; throws `BadArgument` or `LimitExceeded`. */
export function checkSessionCommand(command: SessionCommand): void {
  checkStamp(command.stampMs);
  if (command.op === "create") {
    checkId("env id", command.envId, false);
    checkId("build id", command.buildId, true);
    if (command.seed < 0n || command.seed > U64_MAX) {
      throw new ReplicationError("BadArgument", "seed must be a u64");
    }
    if (command.hint.length > SESSION_LIMITS.maxHintBytes) {
      throw new ReplicationError(
        "LimitExceeded",
        `hint is ${command.hint.length} bytes; at most ${SESSION_LIMITS.maxHintBytes} are allowed`,
      );
    }
    return;
  }
  parseSessionId(command.sessionId);
  if (command.op === "step") {
    if (!Number.isSafeInteger(command.expectedStep) || command.expectedStep < 0) {
      throw new ReplicationError("BadArgument", "expected step must be a non-negative integer");
    }
    if (command.action.length > SESSION_LIMITS.maxActionBytes) {
      throw new ReplicationError(
        "LimitExceeded",
        `action is ${command.action.length} bytes; at most ${SESSION_LIMITS.maxActionBytes} are allowed`,
      );
    }
  }
}

/** The body of a session command (without the part tag). Validates limits first. */
export function encodeSessionBody(command: SessionCommand): Uint8Array {
  checkSessionCommand(command);
  const writer = new ByteWriter().u8(OPS[command.op]).u64(command.stampMs);
  if (command.op === "create") {
    writer.string16(command.envId).string16(command.buildId).u64big(command.seed);
    return writer.bytes32(command.hint).finish();
  }
  writer.string16(command.sessionId);
  if (command.op === "step") writer.u64(command.expectedStep).bytes32(command.action);
  return writer.finish();
}

/** A whole logged command for the sessions part: what the facade proposes. */
export function encodeSessionCommand(command: SessionCommand): Uint8Array {
  return encodeCommand(PART_TAGS.sessions, encodeSessionBody(command));
}

/** Decodes a session command body; anything malformed or over a limit throws `BadCommand`. */
export function decodeSessionBody(body: Uint8Array): SessionCommand {
  const reader = new ByteReader(body, "BadCommand", "session command");
  const op = reader.u8();
  const stampMs = reader.u64();
  let command: SessionCommand;
  if (op === OPS.create) {
    const envId = reader.string16(SESSION_LIMITS.maxIdBytes);
    if (envId.length === 0) reader.fail("empty env id");
    const buildId = reader.string16(SESSION_LIMITS.maxIdBytes);
    const seed = reader.u64big();
    const hint = reader.bytes32(SESSION_LIMITS.maxHintBytes);
    command = { op: "create", envId, buildId, seed, hint, stampMs };
  } else if (op === OPS.step || op === OPS.close) {
    const sessionId = readSessionId(reader);
    if (op === OPS.close) {
      command = { op: "close", sessionId, stampMs };
    } else {
      const expectedStep = reader.u64();
      const action = reader.bytes32(SESSION_LIMITS.maxActionBytes);
      command = { op: "step", sessionId, expectedStep, action, stampMs };
    }
  } else {
    return reader.fail(`unknown session op ${op}`);
  }
  reader.end();
  return command;
}

function readSessionId(reader: ByteReader): string {
  const sessionId = reader.string16(MAX_SESSION_ID_BYTES);
  if (!SESSION_ID_PATTERN.test(sessionId)) reader.fail("malformed session id");
  return sessionId;
}

/** Appends a transition (shared by results, snapshots and exports of the part). */
export function writeTransition(writer: ByteWriter, transition: SessionTransition): ByteWriter {
  writer
    .u64(transition.step)
    .bytes32(transition.action)
    .bytes32(transition.obs)
    .f32(transition.reward)
    .u8((transition.terminated ? 1 : 0) | (transition.truncated ? 2 : 0))
    .i8(transition.currentPlayer)
    .u8(transition.playerRewards.length);
  for (const reward of transition.playerRewards) writer.f32(reward);
  return writer.bytes32(transition.legalMask);
}

export function readTransition(reader: ByteReader): SessionTransition {
  const step = reader.u64();
  const action = reader.bytes32(SESSION_LIMITS.maxActionBytes);
  const obs = reader.bytes32(MAX_BLOB_BYTES);
  const reward = reader.f32();
  const flags = reader.u8();
  if (flags > 3) reader.fail(`transition flags ${flags}`);
  const currentPlayer = reader.i8();
  const players = reader.u8();
  const playerRewards = new Float32Array(players);
  for (let i = 0; i < players; i += 1) playerRewards[i] = reader.f32();
  const legalMask = reader.bytes32(MAX_BLOB_BYTES);
  return {
    step,
    action,
    obs,
    reward,
    terminated: (flags & 1) !== 0,
    truncated: (flags & 2) !== 0,
    currentPlayer,
    playerRewards,
    legalMask,
  };
}

/** Appends a session view (results and snapshots). */
export function writeSessionView(writer: ByteWriter, view: SessionView): ByteWriter {
  writer
    .string16(view.sessionId)
    .string16(view.envId)
    .string16(view.buildId)
    .u64big(view.seed)
    .bytes32(view.hint)
    .string16(view.owner)
    .u64(view.step)
    .bytes32(view.state)
    .u64(view.createdIndex)
    .u64(view.lastActiveIndex)
    .u64(view.lastActiveMs);
  return writeTransition(writer, view.last);
}

export function readSessionView(reader: ByteReader): SessionView {
  const view: SessionView = {
    sessionId: readSessionId(reader),
    envId: reader.string16(SESSION_LIMITS.maxIdBytes),
    buildId: reader.string16(SESSION_LIMITS.maxIdBytes),
    seed: reader.u64big(),
    hint: reader.bytes32(SESSION_LIMITS.maxHintBytes),
    owner: reader.string16(1024),
    step: reader.u64(),
    state: reader.bytes32(MAX_BLOB_BYTES),
    createdIndex: reader.u64(),
    lastActiveIndex: reader.u64(),
    lastActiveMs: reader.u64(),
    last: readTransition(reader),
  };
  if (parseSessionId(view.sessionId).index !== view.createdIndex) {
    reader.fail("session id and create index differ");
  }
  if (view.last.step !== view.step) reader.fail("last transition is not the current step");
  if (view.step > SESSION_LIMITS.maxStepsPerSession) reader.fail(`step ${view.step}`);
  return view;
}

/** About the bytes a transition holds or encodes to (its arrays plus a fixed overhead). */
export function transitionBytes(transition: SessionTransition): number {
  const { action, obs, legalMask, playerRewards } = transition;
  return 40 + action.length + obs.length + legalMask.length + 4 * playerRewards.length;
}

export function encodeSessionResult(result: SessionResult): Uint8Array {
  const hint =
    result.op === "create"
      ? 512 + result.session.state.length + result.session.hint.length
      : result.op === "step"
        ? 64 + transitionBytes(result.transition)
        : 64;
  const writer = new ByteWriter(
    hint + (result.op === "create" ? transitionBytes(result.session.last) : 0),
  ).u8(RESULTS[result.op]);
  switch (result.op) {
    case "create":
      return writeSessionView(writer, result.session).finish();
    case "step":
      writer.string16(result.sessionId);
      return writeTransition(writer, result.transition).finish();
    case "stale":
      return writer.string16(result.sessionId).u64(result.currentStep).finish();
    case "failed":
      return writer
        .string16(result.sessionId)
        .string16(result.failure.code)
        .string16(boundUtf8(result.failure.message, MAX_FAILURE_MESSAGE_BYTES))
        .finish();
    case "close":
      return writer.string16(result.sessionId).u64(result.finalStep).finish();
  }
}

export function decodeSessionResult(bytes: Uint8Array): SessionResult {
  const reader = new ByteReader(bytes, "BadCommand", "session result");
  const op = reader.u8();
  let result: SessionResult;
  if (op === RESULTS.create) {
    result = { op: "create", session: readSessionView(reader) };
  } else {
    // A failed create names no session: "".
    const sessionId = reader.string16(MAX_SESSION_ID_BYTES);
    if (op === RESULTS.step) {
      result = { op: "step", sessionId, transition: readTransition(reader) };
    } else if (op === RESULTS.stale) {
      result = { op: "stale", sessionId, currentStep: reader.u64() };
    } else if (op === RESULTS.failed) {
      const code = reader.string16(64);
      if (!isReplicatedFailureCode(code)) return reader.fail(`unknown failure code ${code}`);
      const message = reader.string16(MAX_FAILURE_MESSAGE_BYTES);
      result = { op: "failed", sessionId, failure: { code, message } };
    } else if (op === RESULTS.close) {
      result = { op: "close", sessionId, finalStep: reader.u64() };
    } else {
      return reader.fail(`unknown session result ${op}`);
    }
  }
  reader.end();
  return result;
}

/**
 * The runtime's call errors that every replica meets alike (the guest's fuel, its traps, its
 * verdict on the input, or the manifest-driven registry): recorded as outcomes. `Timeout` (a
 * wall-clock watchdog) and `Cancelled` are faults of one node and are never recorded.
 */
const REPLICATED_FAILURES: ReadonlySet<string> = new Set<CallErrorCode>([
  "UnknownEnv",
  "UnknownBuild",
  "BadState",
  "BadAction",
  "IllegalAction",
  "EpisodeOver",
  "BadHint",
  "BadArgument",
  "BadRequest",
  "LimitExceeded",
  "Trap",
  "BudgetExceeded",
  "CartridgeInternal",
]);

export function isReplicatedFailureCode(code: string): code is CallErrorCode {
  return REPLICATED_FAILURES.has(code);
}

/** `message` cut to at most `maxBytes` of UTF-8 on a character boundary. */
export function boundUtf8(message: string, maxBytes: number): string {
  const encoded = new TextEncoder().encode(message);
  if (encoded.length <= maxBytes) return message;
  return new TextDecoder().decode(encoded.subarray(0, maxBytes)).replace(/\uFFFD+$/, "");
}
