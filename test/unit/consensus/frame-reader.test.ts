import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { seededRng } from "../../../host/consensus/engine/rng.js";
import { Backoff } from "../../../host/consensus/transport/tcp/backoff.js";
import { FrameReader } from "../../../host/consensus/transport/tcp/frame-reader.js";

/** Frames of the given body sizes, each with its u32 length prefix and body bytes = its index. */
function frames(sizes: readonly number[]): Uint8Array[] {
  return sizes.map((size, i) => {
    const frame = new Uint8Array(4 + size).fill(i & 0xff);
    new DataView(frame.buffer).setUint32(0, size, true);
    return frame;
  });
}

describe("FrameReader", () => {
  it("yields the same frames however the stream is cut into chunks", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 300 }), { maxLength: 10 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
        (sizes, cuts) => {
          const expected = frames(sizes);
          const stream = new Uint8Array(expected.reduce((n, f) => n + f.length, 0));
          let offset = 0;
          for (const frame of expected) {
            stream.set(frame, offset);
            offset += frame.length;
          }
          const reader = new FrameReader(1024);
          const got: Uint8Array[] = [];
          let position = 0;
          let cut = 0;
          while (position < stream.length) {
            const size = cuts[cut % cuts.length] as number;
            cut += 1;
            const chunk = stream.slice(position, position + size);
            position += size;
            expect(reader.push(chunk, (frame) => got.push(Uint8Array.from(frame)) > 0)).toBe(
              undefined,
            );
          }
          // Compared as lengths plus one joined buffer: deep-equality of many arrays is slow.
          expect(got.map((frame) => frame.length)).toEqual(expected.map((frame) => frame.length));
          expect(Buffer.concat(got).equals(Buffer.from(stream))).toBe(true);
          expect(reader.bufferedBytes()).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("reports a length prefix above the limit as soon as its four bytes arrive", () => {
    const reader = new FrameReader(100);
    const got: Uint8Array[] = [];
    expect(reader.push(Uint8Array.of(0xff, 0xff), (f) => got.push(f) > 0)).toBe(undefined);
    expect(reader.push(Uint8Array.of(0xff, 0x0f), (f) => got.push(f) > 0)).toBe(0x0fff_ffff + 4);
    expect(got).toEqual([]);
    expect(reader.bufferedBytes()).toBe(0);
  });

  it("stops when the frame callback says so", () => {
    const reader = new FrameReader(100);
    const [a, b] = frames([1, 1]) as [Uint8Array, Uint8Array];
    const both = new Uint8Array([...a, ...b]);
    let calls = 0;
    reader.push(both, () => {
      calls += 1;
      return false;
    });
    expect(calls).toBe(1);
  });
});

describe("Backoff", () => {
  it("doubles up to the cap with jitter in the upper half, and resets", () => {
    const backoff = new Backoff(10, 100, seededRng(1));
    const ceilings = [10, 20, 40, 80, 100, 100];
    for (const ceiling of ceilings) {
      const delay = backoff.nextDelayMs();
      expect(delay).toBeGreaterThanOrEqual(ceiling / 2);
      expect(delay).toBeLessThanOrEqual(ceiling);
    }
    backoff.reset();
    expect(backoff.nextDelayMs()).toBeLessThanOrEqual(10);
  });

  it("replays the same delays for the same seed", () => {
    const draw = () => {
      const backoff = new Backoff(10, 10_000, seededRng(42));
      return Array.from({ length: 8 }, () => backoff.nextDelayMs());
    };
    expect(draw()).toEqual(draw());
  });
});
