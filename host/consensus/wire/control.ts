import { WireDecodeError } from "./errors.js";
import { beginFrame, endFrame, expectEnd, guardDecode, openFrame } from "./frame.js";
import {
  MAX_CLUSTER_ID_BYTES,
  MAX_HANDSHAKE_FRAME_BYTES,
  MAX_REASON_BYTES,
  MAX_WIRE_REPLICA_ID,
  type WireLimits,
  wireLimits,
} from "./limits.js";
import type { WireReader } from "./reader.js";
import type { WireWriter } from "./writer.js";

/**
 * Transport control frames: the handshake and the ping used as an in-order barrier. They share
 * the frame header with messages but use type bytes from 64 up, which `decodeMessage` refuses.
 *
 * - `hello` (dialer → acceptor, first frame): `u8 clusterIdLength, clusterId, u16 from, u16 to`
 *   — who I am and whom I expect to reach at this address.
 * - `welcome` (acceptor → dialer): `u8 clusterIdLength, clusterId, u16 replicaId`.
 * - `refuse` (either way, then the connection is closed): `u8 code, u16 reasonLength, reason`.
 * - `ping` / `pong`: `u32 sequence`; a pong echoes its ping's sequence.
 */
export type ControlFrame =
  | {
      readonly kind: "hello";
      readonly clusterId: string;
      readonly from: number;
      readonly to: number;
    }
  | { readonly kind: "welcome"; readonly clusterId: string; readonly replicaId: number }
  | { readonly kind: "refuse"; readonly code: RefusalCode; readonly reason: string }
  | { readonly kind: "ping"; readonly sequence: number }
  | { readonly kind: "pong"; readonly sequence: number };

/** Why a handshake was refused (stable codes; sent to the peer and logged on both sides). */
export const REFUSAL_CODES = [
  "WrongCluster",
  "UnknownReplica",
  "WrongReplica",
  "WrongDialer",
  "IdentityMismatch",
  "UnsupportedVersion",
  "Malformed",
  "Busy",
] as const;
export type RefusalCode = (typeof REFUSAL_CODES)[number];

const CONTROL_TYPES = { hello: 64, welcome: 65, refuse: 66, ping: 67, pong: 68 } as const;

/** Handshake frames are tiny; they are read with these limits whatever the message limits are. */
const HANDSHAKE_LIMITS: WireLimits = wireLimits({ maxFrameBytes: MAX_HANDSHAKE_FRAME_BYTES });

/** Appends a control frame to `writer`; returns its size. */
export function encodeControl(writer: WireWriter, frame: ControlFrame, clusterTag: number): number {
  const start = beginFrame(writer, clusterTag, CONTROL_TYPES[frame.kind]);
  try {
    switch (frame.kind) {
      case "hello":
        writer.string(frame.clusterId, 1, MAX_CLUSTER_ID_BYTES, "cluster id");
        writer.u16(frame.from);
        writer.u16(frame.to);
        break;
      case "welcome":
        writer.string(frame.clusterId, 1, MAX_CLUSTER_ID_BYTES, "cluster id");
        writer.u16(frame.replicaId);
        break;
      case "refuse":
        writer.u8(REFUSAL_CODES.indexOf(frame.code));
        writer.string(truncateUtf8(frame.reason, MAX_REASON_BYTES), 2, MAX_REASON_BYTES, "reason");
        break;
      case "ping":
      case "pong":
        writer.u32(frame.sequence >>> 0);
        break;
    }
    return endFrame(writer, start);
  } catch (error) {
    writer.truncate(start);
    throw error;
  }
}

/** True if the frame's type byte is a control frame (checked before choosing a decoder). */
export function isControlType(type: number): boolean {
  return type >= CONTROL_TYPES.hello && type <= CONTROL_TYPES.pong;
}

/**
 * Decodes a control frame. The cluster tag is not checked here: the handshake compares the full
 * cluster ids so that the refusal can name both. Throws only {@link WireDecodeError}.
 */
export function decodeControl(frame: Uint8Array, limits: WireLimits): ControlFrame {
  return guardDecode(() => {
    const { header, reader } = openFrame(frame, limits);
    const control = readControl(reader, header.type);
    expectEnd(reader);
    return control;
  });
}

/** {@link decodeControl} with the small handshake limits (for frames before the handshake). */
export function decodeHandshake(frame: Uint8Array): ControlFrame {
  return decodeControl(frame, HANDSHAKE_LIMITS);
}

function readReplicaId(reader: WireReader, field: string): number {
  const id = reader.u16(field);
  if (id < 1 || id > MAX_WIRE_REPLICA_ID) {
    throw new WireDecodeError("InvalidField", `${field} ${id} is not a replica id`);
  }
  return id;
}

function readControl(reader: WireReader, type: number): ControlFrame {
  switch (type) {
    case CONTROL_TYPES.hello: {
      const clusterId = reader.string(1, MAX_CLUSTER_ID_BYTES, "cluster id");
      const from = readReplicaId(reader, "from");
      return { kind: "hello", clusterId, from, to: readReplicaId(reader, "to") };
    }
    case CONTROL_TYPES.welcome: {
      const clusterId = reader.string(1, MAX_CLUSTER_ID_BYTES, "cluster id");
      return { kind: "welcome", clusterId, replicaId: readReplicaId(reader, "replica id") };
    }
    case CONTROL_TYPES.refuse: {
      const index = reader.u8("refusal code");
      const code = REFUSAL_CODES[index];
      if (code === undefined) {
        throw new WireDecodeError("InvalidField", `refusal code ${index}`);
      }
      return { kind: "refuse", code, reason: reader.string(2, MAX_REASON_BYTES, "reason") };
    }
    case CONTROL_TYPES.ping:
      return { kind: "ping", sequence: reader.u32("sequence") };
    case CONTROL_TYPES.pong:
      return { kind: "pong", sequence: reader.u32("sequence") };
    default:
      throw new WireDecodeError("UnknownType", `control type ${type}`);
  }
}

/** `text` cut to at most `maxBytes` UTF-8 bytes without splitting a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, "utf8") <= maxBytes) {
    return text;
  }
  let result = "";
  let bytes = 0;
  for (const char of text) {
    const size = Buffer.byteLength(char, "utf8");
    if (bytes + size > maxBytes) {
      break;
    }
    result += char;
    bytes += size;
  }
  return result;
}
