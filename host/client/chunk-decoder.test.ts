import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { simResultChunkArbitrary } from "../../test/support/sim-result-chunk-arbitrary.js";
import { SimResultChunk } from "../proto/generated/engine/v1/engine.js";
import { decodeSimResultChunk } from "./chunk-decoder.js";

const chunk = simResultChunkArbitrary({ maxColumnBytes: 5000 });

/** A message's fields as plain values, so Buffers and views compare by content. */
function plain(message: SimResultChunk): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(message).map(([key, value]) => [
      key,
      value instanceof Uint8Array ? [...value] : value,
    ]),
  );
}

/**
 * Fields this version does not know: a length-delimited field 20 and a varint field 21 (their
 * tags are two-byte varints: 162 and 168).
 */
const UNKNOWN_FIELDS = Buffer.from([0xa2, 0x01, 2, 9, 9, 0xa8, 0x01, 0x96, 0x01]);

describe("SimResultChunk view decoder", () => {
  it("decodes what the generated encoder writes exactly as the generated decoder does", () => {
    fc.assert(
      fc.property(chunk, fc.boolean(), (message, withUnknown) => {
        const encoded = Buffer.from(SimResultChunk.encode(message).finish());
        const bytes = withUnknown ? Buffer.concat([UNKNOWN_FIELDS, encoded]) : encoded;
        expect(plain(decodeSimResultChunk(bytes))).toEqual(plain(SimResultChunk.decode(bytes)));
      }),
      { numRuns: 300 },
    );
  });

  it("hands out views of the received bytes, not copies", () => {
    const bytes = Buffer.from(
      SimResultChunk.encode(
        SimResultChunk.fromPartial({ rows: 2, rewards: Buffer.alloc(8, 1) }),
      ).finish(),
    );
    const decoded = decodeSimResultChunk(bytes);
    expect(decoded.rewards.buffer).toBe(bytes.buffer);
    expect([...decoded.rewards]).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
  });

  it("leaves a truncated message to the generated decoder, which rejects it", () => {
    const bytes = Buffer.from(
      SimResultChunk.encode(
        SimResultChunk.fromPartial({ rows: 2, rewards: Buffer.alloc(8, 1) }),
      ).finish(),
    );
    expect(() => decodeSimResultChunk(bytes.subarray(0, bytes.length - 3))).toThrow();
  });
});
