import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SimResultChunk } from "../../../host/proto/generated/engine/v1/engine.js";
import {
  ENGINE_SERVICE_DEFINITION,
  EncodeBuffers,
  encodeAhead,
  encodeSimResultChunk,
} from "../../../host/server/chunk-encoder.js";
import { simResultChunkArbitrary } from "../../support/sim-result-chunk-arbitrary.js";

const chunk = simResultChunkArbitrary({ maxColumnBytes: 20_000, buildIdUnit: "grapheme" });

describe("SimResultChunk encoder", () => {
  it("writes exactly the bytes of the generated encoder", () => {
    fc.assert(
      fc.property(chunk, (message) => {
        const expected = SimResultChunk.encode(message).finish();
        expect(Buffer.compare(encodeSimResultChunk(message), Buffer.from(expected))).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it("encodes columns that are views into a larger buffer, and round-trips them", () => {
    const backing = Buffer.from(new Uint8Array(1000).map((_, i) => i & 0xff));
    const message = SimResultChunk.fromPartial({
      id: { envId: "tictactoe-v1", buildId: "b" },
      rows: 3,
      rewards: backing.subarray(7, 19),
      flags: backing.subarray(500, 503),
    });
    const back = SimResultChunk.decode(encodeSimResultChunk(message));
    expect([...back.rewards]).toEqual([...backing.subarray(7, 19)]);
    expect([...back.flags]).toEqual([...backing.subarray(500, 503)]);
    expect(back.rows).toBe(3);
    expect(back.id).toEqual({ envId: "tictactoe-v1", buildId: "b" });
  });

  it("writes into a given larger buffer, and the service sends chunks encoded ahead as they are", () => {
    const message = SimResultChunk.fromPartial({
      id: { envId: "tictactoe-v1", buildId: "b" },
      rows: 2,
      rewards: Buffer.alloc(8, 3),
    });
    const expected = Buffer.from(SimResultChunk.encode(message).finish());
    const buffers = new EncodeBuffers(2);
    const big = buffers.take(1000);
    expect(
      Buffer.compare(
        encodeSimResultChunk(message, () => big),
        expected,
      ),
    ).toBe(0);
    const serialize = ENGINE_SERVICE_DEFINITION.batchSimulate.responseSerialize;
    expect(Buffer.compare(serialize(message), expected)).toBe(0);
    encodeAhead(message, () => big);
    const sent = serialize(message);
    expect(sent.buffer).toBe(big.buffer);
    expect(Buffer.compare(sent, expected)).toBe(0);
    buffers.give(big);
    expect(buffers.take(expected.length)).toBe(big);
  });
});
