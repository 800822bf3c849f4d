/**
 * Why a frame was refused by the decoder. Stable codes, counted per peer by the transport.
 *
 * - `Truncated`: a length or field runs past the end of the frame.
 * - `TrailingBytes`: the message ended before the frame did.
 * - `BadLength`: the length prefix disagrees with the frame's size.
 * - `BadMagic`: the first header byte is not the wire magic (not our protocol).
 * - `UnsupportedVersion`: the version byte is not one this build reads.
 * - `WrongCluster`: the frame's cluster tag is not this cluster's.
 * - `UnknownType`: the type byte names no message this build knows.
 * - `LimitExceeded`: a count or size is above a {@link WireLimits} cap.
 * - `InvalidField`: a field is outside its domain (replica id 0, boolean 2, non-safe integer,
 *   invalid UTF-8, unknown slot-value kind).
 * - `Internal`: the decoder itself failed; never expected (the fuzz test asserts it never occurs).
 */
export type WireDecodeErrorCode =
  | "Truncated"
  | "TrailingBytes"
  | "BadLength"
  | "BadMagic"
  | "UnsupportedVersion"
  | "WrongCluster"
  | "UnknownType"
  | "LimitExceeded"
  | "InvalidField"
  | "Internal";

/** The only error the decoder throws. */
export class WireDecodeError extends Error {
  override readonly name = "WireDecodeError";
  readonly code: WireDecodeErrorCode;

  constructor(code: WireDecodeErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

/**
 * Why a message could not be encoded: a field outside its domain (negative index, replica id
 * beyond the ballot space, lone surrogate in a client id) or a frame above `maxFrameBytes`. The
 * transport drops such a message and counts it; nothing half-written stays in its buffer.
 */
export class WireEncodeError extends Error {
  override readonly name = "WireEncodeError";
  readonly code: "InvalidField" | "LimitExceeded";

  constructor(code: "InvalidField" | "LimitExceeded", message: string) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}
