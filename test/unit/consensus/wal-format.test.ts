import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Entry } from "../../../host/consensus/core/entry.js";
import { crc32c } from "../../../host/consensus/storage/wal/crc32c.js";
import { FRAME_HEADER_BYTES, RecordType } from "../../../host/consensus/storage/wal/format.js";
import {
  decodeRecord,
  encodeBatch,
  RecordDecodeError,
  RecordEncodeError,
  type WalRecord,
} from "../../../host/consensus/storage/wal/records.js";

const ascii = (text: string) => new TextEncoder().encode(text);

describe("crc32c", () => {
  // RFC 3720 appendix B.4 and the customary check value.
  it("matches the published test vectors", () => {
    expect(crc32c(ascii("123456789"))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });

  it("continues over pieces and equals the bytewise definition", () => {
    const bitwise = (bytes: Uint8Array): number => {
      let crc = 0xffffffff;
      for (const byte of bytes) {
        crc ^= byte;
        for (let bit = 0; bit < 8; bit++) {
          crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
        }
      }
      return (crc ^ 0xffffffff) >>> 0;
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), (bytes, cutSeed) => {
        const cut = bytes.length === 0 ? 0 : cutSeed % bytes.length;
        const whole = crc32c(bytes);
        expect(whole).toBe(bitwise(bytes));
        expect(crc32c(bytes, crc32c(bytes, 0, 0, cut), cut)).toBe(whole);
      }),
    );
  });
});

const safeIndex = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const arbitraryEntry: fc.Arbitrary<Entry> = fc.record({
  index: safeIndex,
  ballot: safeIndex,
  value: fc.oneof(
    fc.constant({ kind: "noop" as const }),
    fc.record({
      kind: fc.constant("batch" as const),
      commands: fc.array(
        fc.record({
          clientId: fc.string({ maxLength: 20, unit: "grapheme" }),
          requestId: fc.double(),
          payload: fc.uint8Array({ maxLength: 64 }),
        }),
        { maxLength: 5 },
      ),
    }),
  ),
});
const snapshotMeta = fc.record({ index: safeIndex, ballot: safeIndex });
const hardState = fc.record({ promisedBallot: safeIndex, commitIndex: safeIndex });
const arbitraryRecord: fc.Arbitrary<WalRecord> = fc.oneof(
  fc.record({
    type: fc.constant(RecordType.Checkpoint),
    hardState,
    compactedIndex: safeIndex,
    lastIndex: safeIndex,
    snapshot: fc.option(snapshotMeta, { nil: undefined }),
  }),
  fc.record({ type: fc.constant(RecordType.HardState), hardState }),
  fc.record({ type: fc.constant(RecordType.Entry), entry: arbitraryEntry }),
  fc.record({ type: fc.constant(RecordType.Snapshot), snapshot: snapshotMeta }),
  fc.record({
    type: fc.constant(RecordType.Compaction),
    snapshot: snapshotMeta,
    throughIndex: safeIndex,
  }),
);

/** Splits an encoded batch back into its record bodies, checking both checksums of each frame. */
function frames(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bodies: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; ) {
    const length = view.getUint32(offset, true);
    expect(view.getUint32(offset + 8, true)).toBe(crc32c(bytes, 0, offset, offset + 8));
    const body = bytes.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + length);
    expect(view.getUint32(offset + 4, true)).toBe(crc32c(body));
    bodies.push(body);
    offset += FRAME_HEADER_BYTES + length;
  }
  return bodies;
}

describe("WAL records", () => {
  it("round-trip, and only the last record of a batch ends it", () => {
    fc.assert(
      fc.property(fc.array(arbitraryRecord, { minLength: 1, maxLength: 6 }), (records) => {
        const bodies = frames(encodeBatch(records, 1 << 20));
        expect(bodies.map((body) => decodeRecord(body))).toEqual(
          records.map((record, i) => ({ record, batchEnd: i === records.length - 1 })),
        );
      }),
    );
  });

  it("refuses values it cannot store exactly, and records over the limit", () => {
    const entry = (index: number): WalRecord => ({
      type: RecordType.Entry,
      entry: { index, ballot: 1, value: { kind: "noop" } },
    });
    expect(() => encodeBatch([entry(-1)], 1024)).toThrow(RecordEncodeError);
    expect(() => encodeBatch([entry(2 ** 53)], 1024)).toThrow(RecordEncodeError);
    expect(() => encodeBatch([entry(1.5)], 1024)).toThrow(RecordEncodeError);
    const big: WalRecord = {
      type: RecordType.Entry,
      entry: {
        index: 1,
        ballot: 1,
        value: {
          kind: "batch",
          commands: [{ clientId: "c", requestId: 1, payload: new Uint8Array(2000) }],
        },
      },
    };
    expect(() => encodeBatch([big], 1024)).toThrow(/exceeds the limit/);
  });

  it("rejects malformed bodies with a decode error, never a crash", () => {
    fc.assert(
      fc.property(
        arbitraryRecord,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (record, at, xor) => {
          const body = frames(encodeBatch([record], 1 << 20))[0] as Uint8Array;
          const damaged = body.slice();
          const position = at % damaged.length;
          damaged[position] = (damaged[position] as number) ^ xor;
          try {
            decodeRecord(damaged);
          } catch (error) {
            expect(error).toBeInstanceOf(RecordDecodeError);
          }
          expect(() => decodeRecord(body.subarray(0, body.length - 1))).toThrow(RecordDecodeError);
        },
      ),
    );
  });
});
