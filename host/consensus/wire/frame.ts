import { WireDecodeError } from "./errors.js";
import {
  FRAME_HEADER_BYTES,
  LENGTH_PREFIX_BYTES,
  WIRE_MAGIC,
  WIRE_VERSION,
  type WireLimits,
} from "./limits.js";
import { WireReader } from "./reader.js";
import type { WireWriter } from "./writer.js";

/**
 * Frame layout (all integers little-endian):
 *
 * ```
 * u32 length   bytes after this field (header + body)
 * u8  magic    0xC7
 * u8  version  1
 * u32 cluster  the cluster tag (FNV-1a of the cluster id)
 * u8  type     message type (1..63) or transport control frame (64..)
 * ... body     per type
 * ```
 */
export interface FrameHeader {
  readonly clusterTag: number;
  readonly type: number;
}

/** Writes a header with a placeholder length; returns the frame's start for {@link endFrame}. */
export function beginFrame(writer: WireWriter, clusterTag: number, type: number): number {
  const start = writer.length;
  writer.u32(0);
  writer.u8(WIRE_MAGIC);
  writer.u8(WIRE_VERSION);
  writer.u32(clusterTag);
  writer.u8(type);
  return start;
}

/** Fills in the length prefix of the frame that began at `start`; returns the frame's size. */
export function endFrame(writer: WireWriter, start: number): number {
  const frameBytes = writer.length - start;
  writer.u32At(start, frameBytes - LENGTH_PREFIX_BYTES);
  return frameBytes;
}

/**
 * Checks the length prefix, magic and version of a whole frame (prefix included) and returns a
 * reader positioned at the body. The cluster tag is returned, not checked: the handshake wants to
 * explain a wrong cluster in words, message decoding rejects it.
 */
export function openFrame(
  frame: Uint8Array,
  limits: WireLimits,
): { header: FrameHeader; reader: WireReader } {
  if (frame.byteLength < FRAME_HEADER_BYTES) {
    throw new WireDecodeError("Truncated", `frame of ${frame.byteLength} bytes has no header`);
  }
  if (frame.byteLength > limits.maxFrameBytes) {
    throw new WireDecodeError("LimitExceeded", `frame of ${frame.byteLength} bytes is too large`);
  }
  const reader = new WireReader(frame);
  const length = reader.u32("length");
  if (length !== frame.byteLength - LENGTH_PREFIX_BYTES) {
    throw new WireDecodeError("BadLength", `length prefix ${length} != ${frame.byteLength - 4}`);
  }
  const magic = reader.u8("magic");
  if (magic !== WIRE_MAGIC) {
    throw new WireDecodeError("BadMagic", `magic byte ${magic} is not ${WIRE_MAGIC}`);
  }
  const version = reader.u8("version");
  if (version !== WIRE_VERSION) {
    throw new WireDecodeError(
      "UnsupportedVersion",
      `version ${version}, this build reads ${WIRE_VERSION}`,
    );
  }
  const clusterTag = reader.u32("cluster tag");
  const type = reader.u8("type");
  return { header: { clusterTag, type }, reader };
}

/** Reads the length prefix at `offset` of a stream buffer (the transport's framing). */
export function frameLengthAt(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset] as number) |
      ((bytes[offset + 1] as number) << 8) |
      ((bytes[offset + 2] as number) << 16) |
      ((bytes[offset + 3] as number) << 24)) >>>
    0
  );
}

/** Throws `TrailingBytes` unless the reader consumed the whole frame. */
export function expectEnd(reader: WireReader): void {
  if (reader.remaining() !== 0) {
    throw new WireDecodeError("TrailingBytes", `${reader.remaining()} bytes after the message`);
  }
}

/** Runs `decode`, turning anything but a {@link WireDecodeError} into an `Internal` one. */
export function guardDecode<T>(decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    if (error instanceof WireDecodeError) {
      throw error;
    }
    throw new WireDecodeError("Internal", error instanceof Error ? error.message : String(error));
  }
}
