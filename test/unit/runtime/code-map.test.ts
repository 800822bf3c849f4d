import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import {
  type CodeMap,
  CodeMapBuilder,
  codeSectionOffset,
  MAX_CODE_MAP_RUNS,
  originalOffset,
} from "../../../host/runtime/code-map.js";
import { CallError } from "../../../host/runtime/errors.js";
import { instrumentFuelMapped } from "../../../host/runtime/fuel.js";
import { Registry } from "../../../host/runtime/registry.js";
import { ByteReader, readSections, writeSections } from "../../../host/runtime/wasm-binary.js";
import { skipInstruction } from "../../../host/runtime/wasm-instructions.js";
import { readModuleInfo } from "../../../host/runtime/wasm-module-info.js";
import { actionIs, counterVariant, withStepBody } from "../../fixtures/counter-variants.js";
import { watToWasm } from "../../fixtures/wat-compiler.js";
import { counterState, u32s } from "./engine-helpers.js";

/**
 * The code map turns a trap's offset in the metered module back into the author's module: every
 * instruction the metering copies maps onto the same instruction (same bytes) in the original,
 * every original instruction is reached that way exactly once, and inserted code maps onto an
 * original instruction boundary.
 */

/** Module offsets of every instruction of every defined function, by function. */
function instructionStarts(module: Uint8Array): number[][] {
  const code = readSections(module).find((s) => s.id === 10);
  if (code === undefined) return [];
  const base = code.payload.byteOffset - module.byteOffset;
  const reader = new ByteReader(code.payload);
  const count = reader.u32();
  const functions: number[][] = [];
  for (let i = 0; i < count; i++) {
    const size = reader.u32();
    const end = reader.offset + size;
    const body = new ByteReader(code.payload, reader.offset, end);
    const groups = body.u32();
    for (let g = 0; g < groups; g++) {
      body.u32();
      const type = body.byte();
      if (type === 0x63 || type === 0x64) body.s33();
    }
    const starts: number[] = [];
    while (!body.done) {
      starts.push(base + body.offset);
      skipInstruction(body);
    }
    starts.push(base + end); // the end of the body, where trailing inserted code maps
    functions.push(starts);
    reader.offset = end;
  }
  return functions;
}

function meter(original: Uint8Array): { metered: Uint8Array; map: CodeMap; imported: number } {
  const info = readModuleInfo(original);
  const { sections, codeMap } = instrumentFuelMapped(info, { initialFuel: 1e6, maxCallDepth: 64 });
  const metered = writeSections(sections);
  const map = codeMap.finish(codeSectionOffset(metered), codeSectionOffset(original));
  return { metered, map, imported: info.importedFunctions };
}

function inRun(map: CodeMap, defined: number, moduleOffset: number): boolean {
  const relative = moduleOffset - (map.meteredStarts[defined] as number);
  for (let r = map.firstRun[defined] as number; r < (map.firstRun[defined + 1] as number); r++) {
    const start = map.runs[3 * r] as number;
    if (relative >= start && relative < start + (map.runs[3 * r + 2] as number)) return true;
  }
  return false;
}

/** Checks the property on one module; returns how many copied instructions it checked. */
function checkModule(original: Uint8Array): number {
  const { metered, map, imported } = meter(original);
  const originalStarts = instructionStarts(original);
  const meteredStarts = instructionStarts(metered);
  let checked = 0;
  originalStarts.forEach((starts, defined) => {
    const boundaries = new Set(starts);
    const reached = new Set<number>();
    const metered_ = meteredStarts[defined] ?? [];
    for (let k = 0; k + 1 < metered_.length; k++) {
      const at = metered_[k] as number;
      const mapped = originalOffset(map, imported + defined, at);
      expect(mapped).toBeDefined();
      expect(boundaries.has(mapped as number)).toBe(true);
      if (!inRun(map, defined, at)) continue;
      const length = (metered_[k + 1] as number) - at;
      expect(original.subarray(mapped, (mapped as number) + length)).toEqual(
        metered.subarray(at, at + length),
      );
      expect(reached.has(mapped as number)).toBe(false);
      reached.add(mapped as number);
      checked++;
    }
    expect(reached.size).toBe(starts.length - 1);
  });
  return checked;
}

/** Stack-neutral statements over one i32 parameter, nested up to `depth`. */
const statement: fc.Memo<string> = fc.memo((depth) => {
  const leaf = fc.oneof(
    fc
      .integer({ min: -200, max: 200 })
      .map((n) => `(drop (i32.add (local.get 0) (i32.const ${n})))`),
    fc.constant("(local.set 0 (i32.mul (local.get 0) (i32.const 3)))"),
    fc.constant("(drop (call $g (local.get 0)))"),
    fc.constant("(memory.fill (i32.const 0) (local.get 0) (i32.const 8))"),
    fc.constant("(if (local.get 0) (then (return (i32.const 7))))"),
    fc.constant("(drop (i32.load (local.get 0)))"),
  );
  if (depth <= 1) return leaf;
  const body = fc.array(statement(depth - 1), { maxLength: 4 }).map((s) => s.join(" "));
  return fc.oneof(
    leaf,
    body.map((b) => `(block $b ${b} (br_if $b (local.get 0)) ${b})`),
    body.map((b) => `(loop $l ${b} (br_if $l (i32.eqz (local.get 0))))`),
    fc.tuple(body, body).map(([a, b]) => `(if (local.get 0) (then ${a}) (else ${b}))`),
    body.map((b) => `(block $t (block $u ${b} (br_table $t $u (local.get 0))))`),
  );
});

function moduleText(bodies: readonly string[]): string {
  const functions = bodies
    .map((b, i) => `(func $f${i} (export "f${i}") (param i32) (result i32) ${b} (local.get 0))`)
    .join("\n");
  return `(module
    (import "env" "abort" (func $abort (param i32 i32 i32 i32)))
    (memory 1)
    (func $g (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
    ${functions})`;
}

describe("code map", () => {
  it("maps every copied instruction onto the same bytes in the original, once each", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(statement(4), { minLength: 1, maxLength: 4 }), async (bodies) => {
        const original = await watToWasm(moduleText(bodies), "generated.wat");
        expect(checkModule(original)).toBeGreaterThan(0);
      }),
      { numRuns: 40 },
    );
  });

  it("holds on the bundled cartridges", async () => {
    for (const name of ["tictactoe-v1", "connect4-v1", "pendulum-v1"]) {
      const path = fileURLToPath(
        new URL(`../../../build/cartridges/${name}.wasm`, import.meta.url),
      );
      if (!existsSync(path)) throw new Error(`${path} is missing: run npm run build`);
      expect(checkModule(new Uint8Array(await readFile(path)))).toBeGreaterThan(100);
    }
  });

  it("locates a real trap at the original unreachable", async () => {
    const original = await counterVariant(withStepBody(`(if ${actionIs(1)} (then unreachable))`));
    const registry = new Registry();
    await registry.register(original, "trap.wasm");
    const engine = new CartridgeEngine(registry);
    let error: unknown;
    try {
      engine.step({ envId: "counter-v1" }, counterState(2, 0), u32s(1));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CallError);
    const frame = (error as CallError).trap?.frames[0];
    expect(frame?.originalOffset).toBeDefined();
    expect(frame?.originalOffset).not.toBe(frame?.offset);
    expect(original[frame?.originalOffset as number]).toBe(0x00); // unreachable
    expect((error as CallError).message).toContain(
      `original 0x${frame?.originalOffset?.toString(16)}`,
    );
  });

  it("stops at the run cap, leaving the functions past it unmapped", () => {
    const builder = new CodeMapBuilder(1);
    builder.beginFunction(0);
    builder.run(0, 0, 4);
    builder.placeFunction(0);
    builder.beginFunction(100);
    for (let i = 0; i < MAX_CODE_MAP_RUNS; i++) builder.run(10 * i, 5 * i, 2);
    builder.placeFunction(50);
    builder.beginFunction(200);
    builder.run(0, 0, 4);
    builder.placeFunction(100);
    const map = builder.finish(1000, 2000);
    expect(map.runs.length).toBe(3);
    expect(originalOffset(map, 1, 1002)).toBe(2002);
    expect(originalOffset(map, 2, 1060)).toBeUndefined();
    expect(originalOffset(map, 3, 1100)).toBeUndefined();
    expect(originalOffset(map, 0, 0)).toBeUndefined();
  });
});
