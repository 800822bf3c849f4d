import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  acceptedSourceMap,
  MAX_SOURCE_MAP_BYTES,
  MAX_SOURCE_NAME_CHARS,
  SourceMap,
  SourceMapError,
  sourceMappingUrl,
} from "../../../host/runtime/source-map.js";
import { ByteWriter, SectionId } from "../../../host/runtime/wasm-binary.js";

/** The source map decoder: base64 VLQ segments of one generated line, looked up by offset. */

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** A reference VLQ encoder (the spec's, written plainly). */
function vlq(value: number): string {
  let v = value < 0 ? (-value << 1) | 1 : value << 1;
  let out = "";
  do {
    let digit = v & 31;
    v >>>= 5;
    if (v > 0) digit |= 32;
    out += BASE64[digit];
  } while (v > 0);
  return out;
}

interface Mapping {
  generated: number;
  source: number;
  line: number;
  column: number;
}

/** Encodes mappings (sorted by generated offset) as one generated line, deltas as the spec says. */
function encode(mappings: readonly Mapping[]): string {
  const previous = { generated: 0, source: 0, line: 0, column: 0 };
  return mappings
    .map((m) => {
      const segment =
        vlq(m.generated - previous.generated) +
        vlq(m.source - previous.source) +
        vlq(m.line - previous.line) +
        vlq(m.column - previous.column);
      Object.assign(previous, m);
      return segment;
    })
    .join(",");
}

function mapText(sources: readonly string[], mappings: string, extra = {}): string {
  return JSON.stringify({ version: 3, sources, names: [], mappings, ...extra });
}

describe("source map decoder", () => {
  it("finds the last mapping at or before an offset (against a reference encoder)", () => {
    const mapping = fc.record({
      generated: fc.integer({ min: 0, max: 1 << 20 }),
      source: fc.integer({ min: 0, max: 2 }),
      line: fc.integer({ min: 0, max: 5000 }),
      column: fc.integer({ min: 0, max: 200 }),
    });
    fc.assert(
      fc.property(
        fc.array(mapping, { minLength: 1, maxLength: 50 }),
        fc.nat(1 << 21),
        (raw, at) => {
          // One mapping per generated offset, in order, as a compiler writes them.
          const byOffset = new Map(raw.map((m) => [m.generated, m]));
          const sorted = [...byOffset.values()].sort((a, b) => a.generated - b.generated);
          const map = SourceMap.parse(mapText(["a.ts", "b.ts", "c.ts"], encode(sorted)));
          const expected = sorted.filter((m) => m.generated <= at).pop();
          const found = map.lookup(at);
          if (expected === undefined) {
            expect(found).toBeUndefined();
          } else {
            expect(found).toEqual({
              file: ["a.ts", "b.ts", "c.ts"][expected.source],
              line: expected.line + 1,
              column: expected.column + 1,
            });
          }
        },
      ),
    );
  });

  it("skips segments without a source, names and later lines", () => {
    // [0] no source; [10] a.ts 3:4 with a name index; then a second generated line.
    const mappings = `A,${vlq(10)}${vlq(0)}${vlq(3)}${vlq(4)}${vlq(0)};${vlq(5)}${vlq(0)}${vlq(9)}${vlq(9)}`;
    const map = SourceMap.parse(mapText(["a.ts"], mappings));
    expect(map.lookup(5)).toBeUndefined();
    expect(map.lookup(12)).toEqual({ file: "a.ts", line: 4, column: 5 });
  });

  it("joins the source root and bounds file names", () => {
    const long = "x".repeat(10_000);
    const map = SourceMap.parse(mapText([long, "b.ts"], `A${vlq(1)}AA`, { sourceRoot: "src" }));
    expect(map.lookup(0)?.file).toBe("src/b.ts");
    const first = SourceMap.parse(mapText([long], "AAAA"));
    // The start of the name, and a note of how much was cut.
    expect(Buffer.byteLength(first.lookup(0)?.file ?? "")).toBeLessThan(MAX_SOURCE_NAME_CHARS + 64);
  });

  it("refuses what is not a bounded version 3 map, and bad mappings at lookup", () => {
    expect(() => SourceMap.parse("{")).toThrow(SourceMapError);
    expect(() =>
      SourceMap.parse(JSON.stringify({ version: 2, sources: [], mappings: "" })),
    ).toThrow(SourceMapError);
    expect(() => SourceMap.parse(" ".repeat(MAX_SOURCE_MAP_BYTES + 1))).toThrow(/larger than/);
    expect(() => SourceMap.parse(mapText(["a.ts"], "A!AA")).lookup(0)).toThrow(SourceMapError);
    // A segment naming a source the map does not list.
    expect(() => SourceMap.parse(mapText(["a.ts"], `A${vlq(4)}AA`)).lookup(0)).toThrow(
      /out of range/,
    );
  });

  it("accepts a map only for a module that declares a sourceMappingURL", () => {
    const text = mapText(["a.ts"], "AAAA");
    const url = {
      id: SectionId.custom,
      payload: new ByteWriter().name("sourceMappingURL").name("./x.wasm.map").finish(),
    };
    expect(sourceMappingUrl([url])).toBe("./x.wasm.map");
    expect(acceptedSourceMap([url], text)).toBe(text);
    expect(acceptedSourceMap([], text)).toBeUndefined();
    expect(acceptedSourceMap([url], "not json")).toBeUndefined();
  });
});
