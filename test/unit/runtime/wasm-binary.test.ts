import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ByteReader,
  ByteWriter,
  readSections,
  writeSections,
} from "../../../host/runtime/wasm-binary.js";
import { compileWatFixture } from "../../fixtures/wat-compiler.js";

describe("wasm binary reading and writing", () => {
  it("round-trips unsigned LEB128 numbers", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), (n) => {
        const bytes = new ByteWriter().u32(n).finish();
        const reader = new ByteReader(bytes);
        expect(reader.u32()).toBe(n);
        expect(reader.done).toBe(true);
      }),
    );
  });

  it("round-trips signed LEB128 numbers through the s33 reader and skipLeb", () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (n) => {
        const bytes = new ByteWriter().s32(n).finish();
        expect(new ByteReader(bytes).s33()).toBe(n);
        const skipper = new ByteReader(bytes);
        skipper.skipLeb();
        expect(skipper.done).toBe(true);
      }),
    );
  });

  it("splits a module into sections and joins it back to the same bytes", async () => {
    const bytes = await compileWatFixture("counter.wat");
    expect(writeSections(readSections(bytes))).toEqual(bytes);
  });

  it("rejects bytes without the wasm header", () => {
    expect(() => readSections(new Uint8Array([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]))).toThrow(
      /not a WebAssembly/,
    );
  });
});
