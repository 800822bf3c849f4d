import { describe, expect, it } from "vitest";
import { LoadError } from "../../../host/runtime/errors.js";
import { loadCartridge } from "../../../host/runtime/loader.js";
import { findNonPortableInstruction } from "../../../host/runtime/portable-instructions.js";
import { addTopLevel, COUNTER_WAT } from "../../fixtures/counter-variants.js";
import { REFUSED_FEATURES, watToWasm } from "../../fixtures/wat-compiler.js";

/** The counter cartridge plus one (never called) function whose body is `body`. */
function counterWith(func: string): Promise<Uint8Array> {
  return watToWasm(addTopLevel(func)(COUNTER_WAT), "counter-nonportable.wat", REFUSED_FEATURES);
}

async function loadError(bytes: Uint8Array): Promise<LoadError> {
  try {
    await loadCartridge(bytes, { source: "bad.wasm" });
  } catch (error) {
    if (error instanceof LoadError) return error;
    throw error;
  }
  throw new Error("the module was accepted");
}

describe("instructions that break determinism across machines are refused at load", () => {
  it("Nondeterministic: a relaxed-SIMD multiply-add, even in a function never called", async () => {
    const bytes = await counterWith(
      `(func $fma (param v128 v128 v128) (result v128)
         (f32x4.relaxed_madd (local.get 0) (local.get 1) (local.get 2)))`,
    );
    const error = await loadError(bytes);
    expect(error.code).toBe("Nondeterministic");
    expect(error.message).toMatch(
      /bad\.wasm: function \d+ \(defined\) uses a relaxed-SIMD instruction \(0xfd 0x105\)/,
    );
  });

  it("Nondeterministic: an atomic load on an unshared memory", async () => {
    const error = await loadError(
      await counterWith(`(func $peek (result i32) (i32.atomic.load (i32.const 0)))`),
    );
    expect(error.code).toBe("Nondeterministic");
    expect(error.message).toMatch(
      /atomic instruction \(0xfe 0x10\); threads and atomics are not allowed/,
    );
  });

  it("Nondeterministic: an atomic fence", async () => {
    const error = await loadError(await counterWith(`(func $fence (atomic.fence))`));
    expect(error.code).toBe("Nondeterministic");
  });

  it("accepts ordinary SIMD (deterministic, part of the ABI) beside the same code", async () => {
    const bytes = await counterWith(
      `(func $mul (param v128 v128) (result v128) (f32x4.mul (local.get 0) (local.get 1)))`,
    );
    expect(findNonPortableInstruction(bytes)).toBeUndefined();
    await expect(loadCartridge(bytes)).resolves.toMatchObject({ buildId: expect.any(String) });
  });

  it("leaves bytes it cannot parse to the compiler (Compile, not a crash)", async () => {
    const bytes = await counterWith(`(func $fence (atomic.fence))`);
    const error = await loadError(bytes.subarray(0, bytes.length - 7));
    expect(error.code).toBe("Compile");
  });
});
