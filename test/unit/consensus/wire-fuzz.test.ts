import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { clusterTag } from "../../../host/consensus/wire/cluster-tag.js";
import { decodeControl, decodeHandshake } from "../../../host/consensus/wire/control.js";
import { WireDecodeError, type WireDecodeErrorCode } from "../../../host/consensus/wire/errors.js";
import { DEFAULT_WIRE_LIMITS, wireLimits } from "../../../host/consensus/wire/limits.js";
import { decodeMessage, encodeMessage } from "../../../host/consensus/wire/message-codec.js";
import { WireWriter } from "../../../host/consensus/wire/writer.js";
import { arbitraryMessage } from "./wire-arbitraries.js";

const TAG = clusterTag("fuzz");
/** Small limits so mutated counts and lengths hit them often. */
const limits = wireLimits({
  maxFrameBytes: 64 * 1024,
  maxEntriesPerMessage: 8,
  maxCommandsPerEntry: 8,
  maxPayloadBytes: 256,
  maxClientIdBytes: 32,
});

/**
 * Feeds `frame` to every decoder. Each either returns or throws a WireDecodeError whose code is
 * never `Internal`; rejections are tallied by code so the test can show what it exercised.
 */
function decodeAll(frame: Uint8Array, tally: Map<WireDecodeErrorCode | "ok", number>): void {
  for (const decode of [
    () => decodeMessage(frame, TAG, limits),
    () => decodeControl(frame, limits),
    () => decodeHandshake(frame),
  ]) {
    let outcome: WireDecodeErrorCode | "ok" = "ok";
    try {
      decode();
    } catch (error) {
      if (!(error instanceof WireDecodeError)) {
        throw new Error(`decoder threw ${String(error)}`);
      }
      outcome = error.code;
    }
    expect(outcome).not.toBe("Internal");
    tally.set(outcome, (tally.get(outcome) ?? 0) + 1);
  }
}

/** A valid frame with one of several mutations applied. */
const mutatedFrame = fc
  .tuple(
    arbitraryMessage,
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
    fc.constantFrom("flip", "truncate", "extend", "fixLength"),
    fc.uint8Array({ maxLength: 16 }),
  )
  .map(([message, edits, mode, extra]) => {
    const writer = new WireWriter(64);
    encodeMessage(writer, message, TAG, DEFAULT_WIRE_LIMITS);
    let frame = Uint8Array.from(writer.bytes());
    for (const [position, value] of edits) {
      frame[position % frame.length] = value;
    }
    if (mode === "truncate") {
      frame = frame.subarray(0, (edits[0]?.[0] ?? 0) % frame.length);
    } else if (mode === "extend") {
      const longer = new Uint8Array(frame.length + extra.length);
      longer.set(frame);
      longer.set(extra, frame.length);
      frame = longer;
    }
    if (mode !== "truncate" && mode !== "flip" && frame.length >= 4) {
      // Keep the length prefix consistent so the mutation reaches the body decoder.
      new DataView(frame.buffer, frame.byteOffset).setUint32(0, frame.length - 4, true);
    }
    return frame;
  });

/** Random bytes behind a valid header, so the body decoders see garbage of every type. */
const randomBody = fc
  .tuple(fc.integer({ min: 0, max: 80 }), fc.uint8Array({ maxLength: 300 }))
  .map(([type, body]) => {
    const frame = new Uint8Array(11 + body.length);
    const view = new DataView(frame.buffer);
    view.setUint32(0, frame.length - 4, true);
    frame[4] = 0xc7;
    frame[5] = 1;
    view.setUint32(6, TAG, true);
    frame[10] = type;
    frame.set(body, 11);
    return frame;
  });

describe("wire decoder fuzz", () => {
  it("never crashes on random bytes, random bodies or mutated valid frames", () => {
    const tally = new Map<WireDecodeErrorCode | "ok", number>();
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 200 }), randomBody, mutatedFrame, mutatedFrame),
        (frame) => decodeAll(frame, tally),
      ),
      { numRuns: 3000 },
    );
    // The run exercised real rejections of several kinds, not only one early exit.
    for (const code of ["Truncated", "BadMagic", "UnknownType", "InvalidField", "LimitExceeded"]) {
      expect(tally.get(code as WireDecodeErrorCode) ?? 0).toBeGreaterThan(0);
    }
    expect(tally.get("ok") ?? 0).toBeGreaterThan(0);
  });

  it("a decoded mutated frame re-encodes to the same bytes (the encoding is canonical)", () => {
    fc.assert(
      fc.property(mutatedFrame, (frame) => {
        let decoded: ReturnType<typeof decodeMessage>;
        try {
          decoded = decodeMessage(frame, TAG, limits);
        } catch {
          return;
        }
        const writer = new WireWriter(64);
        encodeMessage(writer, decoded, TAG, DEFAULT_WIRE_LIMITS);
        expect(Uint8Array.from(writer.bytes())).toEqual(Uint8Array.from(frame));
      }),
      { numRuns: 2000 },
    );
  });
});
