import { ByteReader, ByteWriter } from "./bytes.js";
import { ReplicationError, type ReplicationErrorCode } from "./errors.js";
import type { PartTag } from "./part.js";

/** Most UTF-8 bytes of a rejection message kept in a result (it is echoed to clients). */
const MAX_REJECTION_MESSAGE_BYTES = 512;

const OUTCOME_OK = 0;
const OUTCOME_REJECTED = 1;

/** A command as it goes into the log: the part's tag, then the part's own encoding. */
export function encodeCommand(tag: PartTag, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 1);
  out[0] = tag;
  out.set(body, 1);
  return out;
}

/** Splits a logged command into its tag and body (the body is a view, not a copy). */
export function splitCommand(command: Uint8Array): { tag: number; body: Uint8Array } {
  if (command.length === 0) throw new ReplicationError("BadCommand", "empty command");
  return { tag: command[0] ?? 0, body: command.subarray(1) };
}

/** What applying a command gave: a part's result body, or a rejection every replica agrees on. */
export type Outcome =
  | { readonly ok: true; readonly body: Uint8Array }
  | { readonly ok: false; readonly code: ReplicationErrorCode; readonly message: string };

/** Cuts `message` to at most `maxBytes` of UTF-8, on a character boundary. */
function boundedMessage(message: string, maxBytes: number): string {
  const encoded = new TextEncoder().encode(message);
  if (encoded.length <= maxBytes) return message;
  return `${new TextDecoder().decode(encoded.subarray(0, maxBytes - 3)).replace(/\uFFFD$/, "")}...`;
}

export function encodeOutcome(outcome: Outcome): Uint8Array {
  if (outcome.ok) {
    const out = new Uint8Array(outcome.body.length + 1);
    out[0] = OUTCOME_OK;
    out.set(outcome.body, 1);
    return out;
  }
  return new ByteWriter()
    .u8(OUTCOME_REJECTED)
    .string16(outcome.code)
    .string16(boundedMessage(outcome.message, MAX_REJECTION_MESSAGE_BYTES))
    .finish();
}

const REJECTION_CODES: ReadonlySet<string> = new Set<ReplicationErrorCode>([
  "BadArgument",
  "LimitExceeded",
  "BadCommand",
  "BadSnapshot",
  "NotFound",
  "InUse",
  "NotAllowed",
  "BadModule",
  "EpisodeOver",
]);

export function decodeOutcome(bytes: Uint8Array): Outcome {
  const reader = new ByteReader(bytes, "BadCommand", "result");
  const kind = reader.u8();
  if (kind === OUTCOME_OK) return { ok: true, body: bytes.subarray(1) };
  if (kind !== OUTCOME_REJECTED) reader.fail(`unknown outcome kind ${kind}`);
  const code = reader.string16(64);
  const message = reader.string16(MAX_REJECTION_MESSAGE_BYTES);
  reader.end();
  if (!REJECTION_CODES.has(code)) reader.fail(`unknown rejection code ${code}`);
  return { ok: false, code: code as ReplicationErrorCode, message };
}

/** The body of an ok outcome; a rejection becomes the `ReplicationError` it stands for. */
export function unwrapOutcome(bytes: Uint8Array): Uint8Array {
  const outcome = decodeOutcome(bytes);
  if (outcome.ok) return outcome.body;
  throw new ReplicationError(outcome.code, outcome.message);
}
