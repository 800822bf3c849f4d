import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_CORE_OPTIONS } from "../../../host/consensus/core/config.js";
import type { Message } from "../../../host/consensus/core/messages.js";
import { clusterTag, validateClusterId } from "../../../host/consensus/wire/cluster-tag.js";
import {
  decodeControl,
  decodeHandshake,
  encodeControl,
} from "../../../host/consensus/wire/control.js";
import { WireDecodeError, WireEncodeError } from "../../../host/consensus/wire/errors.js";
import {
  coreFitsWire,
  DEFAULT_WIRE_LIMITS,
  wireLimits,
} from "../../../host/consensus/wire/limits.js";
import {
  decodeMessage,
  decodeSnapshot,
  encodeMessage,
  encodeSnapshot,
} from "../../../host/consensus/wire/message-codec.js";
import { WireWriter } from "../../../host/consensus/wire/writer.js";
import { arbitraryMessage, arbitrarySnapshot, messageArbitraries } from "./wire-arbitraries.js";

const TAG = clusterTag("test-cluster");
const limits = DEFAULT_WIRE_LIMITS;

function encode(message: Message, writer = new WireWriter(16)): Uint8Array {
  writer.reset();
  encodeMessage(writer, message, TAG, limits);
  return Uint8Array.from(writer.bytes());
}

function decodeError(run: () => unknown): WireDecodeError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(WireDecodeError);
    return error as WireDecodeError;
  }
  throw new Error("expected a WireDecodeError");
}

const heartbeat: Message = { type: "heartbeat", from: 1, to: 2, ballot: 1025, commitIndex: 3 };

describe("wire codec", () => {
  for (const [type, arbitrary] of Object.entries(messageArbitraries)) {
    it(`round-trips every ${type} message`, () => {
      const writer = new WireWriter(16);
      fc.assert(
        fc.property(arbitrary as fc.Arbitrary<Message>, (message) => {
          const frame = encode(message, writer);
          expect(decodeMessage(frame, TAG, limits)).toEqual(message);
        }),
        { numRuns: 200 },
      );
    });
  }

  it("encodes several frames back to back into one reusable writer", () => {
    fc.assert(
      fc.property(fc.array(arbitraryMessage, { minLength: 1, maxLength: 8 }), (messages) => {
        const writer = new WireWriter(8);
        const sizes = messages.map((m) => encodeMessage(writer, m, TAG, limits));
        const all = writer.bytes();
        let offset = 0;
        messages.forEach((message, i) => {
          const size = sizes[i] as number;
          expect(decodeMessage(all.subarray(offset, offset + size), TAG, limits)).toEqual(message);
          offset += size;
        });
        expect(offset).toBe(all.byteLength);
      }),
      { numRuns: 100 },
    );
  });

  it("decoded payloads are copies that do not alias the frame", () => {
    const message: Message = {
      type: "learn",
      from: 1,
      to: 2,
      ballot: 1025,
      entries: [
        {
          index: 1,
          ballot: 1025,
          value: {
            kind: "batch",
            commands: [{ clientId: "c", requestId: 1, payload: new Uint8Array([5]) }],
          },
        },
      ],
    };
    const frame = encode(message);
    const decoded = decodeMessage(frame, TAG, limits);
    frame.fill(0);
    expect(decoded).toEqual(message);
  });

  it("rejects a frame for another cluster (issue 7's mismatched cluster id)", () => {
    const frame = encode(heartbeat);
    const error = decodeError(() => decodeMessage(frame, clusterTag("other"), limits));
    expect(error.code).toBe("WrongCluster");
  });

  it("rejects a wrong magic, an unknown version and an unknown type with their codes", () => {
    const frame = encode(heartbeat);
    const badMagic = Uint8Array.from(frame);
    badMagic[4] = 0x00;
    expect(decodeError(() => decodeMessage(badMagic, TAG, limits)).code).toBe("BadMagic");
    const badVersion = Uint8Array.from(frame);
    badVersion[5] = 2;
    expect(decodeError(() => decodeMessage(badVersion, TAG, limits)).code).toBe(
      "UnsupportedVersion",
    );
    const badType = Uint8Array.from(frame);
    badType[10] = 14;
    expect(decodeError(() => decodeMessage(badType, TAG, limits)).code).toBe("UnknownType");
  });

  it("rejects truncated frames, trailing bytes and a lying length prefix", () => {
    const frame = encode(heartbeat);
    expect(decodeError(() => decodeMessage(frame.subarray(0, 8), TAG, limits)).code).toBe(
      "Truncated",
    );
    const cut = Uint8Array.from(frame.subarray(0, frame.length - 1));
    new DataView(cut.buffer).setUint32(0, cut.length - 4, true);
    expect(decodeError(() => decodeMessage(cut, TAG, limits)).code).toBe("Truncated");
    const longer = new Uint8Array(frame.length + 1);
    longer.set(frame);
    new DataView(longer.buffer).setUint32(0, longer.length - 4, true);
    expect(decodeError(() => decodeMessage(longer, TAG, limits)).code).toBe("TrailingBytes");
    expect(
      decodeError(() => decodeMessage(frame.subarray(0, frame.length - 1), TAG, limits)).code,
    ).toBe("BadLength");
  });

  it("rejects out-of-domain fields: replica id 0, boolean 2, integers above 2^53", () => {
    const frame = encode(heartbeat);
    const zeroFrom = Uint8Array.from(frame);
    zeroFrom[11] = 0;
    zeroFrom[12] = 0;
    expect(decodeError(() => decodeMessage(zeroFrom, TAG, limits)).code).toBe("InvalidField");
    const huge = Uint8Array.from(frame);
    huge[22] = 0x20; // high word of the ballot: 2^53
    expect(decodeError(() => decodeMessage(huge, TAG, limits)).code).toBe("InvalidField");
    const reply = encode({ type: "preVoteReply", from: 1, to: 2, ballot: 1, granted: true });
    reply[reply.length - 1] = 2;
    expect(decodeError(() => decodeMessage(reply, TAG, limits)).code).toBe("InvalidField");
  });

  it("checks counts against the limits and the bytes left before allocating", () => {
    const accept: Message = {
      type: "accept",
      from: 1,
      to: 2,
      ballot: 1025,
      commitIndex: 0,
      entries: [{ index: 1, ballot: 1025, value: { kind: "noop" } }],
    };
    const frame = encode(accept);
    const countOffset = frame.length - 17 - 4;
    const claimed = Uint8Array.from(frame);
    new DataView(claimed.buffer).setUint32(countOffset, 1000, true);
    expect(decodeError(() => decodeMessage(claimed, TAG, limits)).code).toBe("Truncated");
    new DataView(claimed.buffer).setUint32(countOffset, 0xffff_ffff, true);
    expect(decodeError(() => decodeMessage(claimed, TAG, limits)).code).toBe("LimitExceeded");
    const tight = wireLimits({ maxEntriesPerMessage: 1 });
    const two = { ...accept, entries: [...accept.entries, ...accept.entries] };
    expect(() => encodeMessage(new WireWriter(), two, TAG, tight)).toThrow(WireEncodeError);
    expect(decodeError(() => decodeMessage(encode(two), TAG, tight)).code).toBe("LimitExceeded");
  });

  it("refuses to encode out-of-domain values and leaves the writer as it was", () => {
    const writer = new WireWriter(16);
    encodeMessage(writer, heartbeat, TAG, limits);
    const before = Uint8Array.from(writer.bytes());
    const bad: Message[] = [
      { ...heartbeat, commitIndex: -1 },
      { ...heartbeat, ballot: 2 ** 53 },
      { ...heartbeat, from: 0 },
      { ...heartbeat, to: 1024 },
      { type: "snapshotAck", from: 1, to: 2, ballot: 1, index: 1.5, offset: 0 },
      {
        type: "installSnapshot",
        from: 1,
        to: 2,
        ballot: 1,
        index: 1,
        snapshotBallot: 1,
        totalBytes: 1,
        checksum: 2 ** 32,
        offset: 0,
        data: new Uint8Array(1),
        last: true,
      },
      {
        type: "learn",
        from: 1,
        to: 2,
        ballot: 1,
        entries: [
          {
            index: 1,
            ballot: 1,
            value: {
              kind: "batch",
              commands: [{ clientId: "\ud800", requestId: 1, payload: new Uint8Array(1) }],
            },
          },
        ],
      },
    ];
    for (const message of bad) {
      expect(() => encodeMessage(writer, message, TAG, limits)).toThrow(WireEncodeError);
      expect(Uint8Array.from(writer.bytes())).toEqual(before);
    }
    const small = wireLimits({ maxFrameBytes: 1024 });
    const big: Message = {
      type: "installSnapshot",
      from: 1,
      to: 2,
      ballot: 1,
      index: 1,
      snapshotBallot: 1,
      totalBytes: 2048,
      checksum: 0,
      offset: 0,
      data: new Uint8Array(2048),
      last: true,
    };
    expect(() => encodeMessage(writer, big, TAG, small)).toThrow(/LimitExceeded/);
    expect(Uint8Array.from(writer.bytes())).toEqual(before);
    expect(decodeError(() => decodeMessage(encode(big), TAG, small)).code).toBe("LimitExceeded");
  });

  it("round-trips standalone snapshots and keeps them apart from messages", () => {
    fc.assert(
      fc.property(arbitrarySnapshot, (snapshot) => {
        const writer = new WireWriter(16);
        encodeSnapshot(writer, snapshot, TAG, limits);
        const frame = Uint8Array.from(writer.bytes());
        expect(decodeSnapshot(frame, TAG, limits)).toEqual(snapshot);
        expect(decodeError(() => decodeMessage(frame, TAG, limits)).code).toBe("UnknownType");
      }),
      { numRuns: 100 },
    );
    expect(decodeError(() => decodeSnapshot(encode(heartbeat), TAG, limits)).code).toBe(
      "UnknownType",
    );
  });

  it("round-trips control frames; messages and control frames never decode as each other", () => {
    const writer = new WireWriter(16);
    const frames = [
      { kind: "hello", clusterId: "test-cluster", from: 1, to: 2 },
      { kind: "welcome", clusterId: "test-cluster", replicaId: 2 },
      { kind: "refuse", code: "WrongCluster", reason: "cluster id 'a' is not 'b'" },
      { kind: "ping", sequence: 0xffff_ffff },
      { kind: "pong", sequence: 3 },
    ] as const;
    for (const control of frames) {
      writer.reset();
      encodeControl(writer, control, TAG);
      const frame = Uint8Array.from(writer.bytes());
      expect(decodeHandshake(frame)).toEqual(control);
      expect(decodeControl(frame, limits)).toEqual(control);
      expect(decodeError(() => decodeMessage(frame, TAG, limits)).code).toBe("UnknownType");
    }
    expect(decodeError(() => decodeControl(encode(heartbeat), limits)).code).toBe("UnknownType");
  });

  it("derives a stable cluster tag and validates cluster ids", () => {
    expect(clusterTag("test-cluster")).toBe(clusterTag("test-cluster"));
    expect(clusterTag("test-cluster")).not.toBe(clusterTag("test-clustes"));
    expect(() => validateClusterId("")).toThrow(RangeError);
    expect(() => validateClusterId("a b")).toThrow(/letters, digits/);
    expect(() => validateClusterId("x".repeat(129))).toThrow(/1..128/);
    expect(() => validateClusterId("prod-eu.1_a")).not.toThrow();
  });

  it("checks that the core's limits fit the wire's (the defaults do)", () => {
    expect(coreFitsWire(DEFAULT_CORE_OPTIONS, DEFAULT_WIRE_LIMITS)).toEqual([]);
    const big = {
      ...DEFAULT_CORE_OPTIONS,
      maxMessageBytes: 32 << 20,
      maxEntriesPerMessage: 1 << 20,
    };
    expect(coreFitsWire(big, DEFAULT_WIRE_LIMITS)).toHaveLength(2);
    expect(() => wireLimits({ maxFrameBytes: 0 })).toThrow(RangeError);
    expect(() => wireLimits({ maxFrameBytes: 2 ** 32 })).toThrow(RangeError);
  });
});
