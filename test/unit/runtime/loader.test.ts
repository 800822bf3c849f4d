import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { LoadError } from "../../../host/runtime/errors.js";
import { CartridgeInstance } from "../../../host/runtime/instance.js";
import { loadCartridge } from "../../../host/runtime/loader.js";
import { instantiateSandboxed } from "../../../host/runtime/sandbox-instantiate.js";
import {
  COUNTER_WAT,
  counterManifest,
  counterVariant,
  replaceOnce,
  withManifest,
  withManifestText,
} from "../../fixtures/counter-variants.js";
import { watToWasm } from "../../fixtures/wat-compiler.js";

async function loadError(
  bytes: Uint8Array | Promise<Uint8Array>,
  options = {},
): Promise<LoadError> {
  try {
    await loadCartridge(await bytes, { source: "bad.wasm", ...options });
  } catch (error) {
    if (error instanceof LoadError) return error;
    throw error;
  }
  throw new Error("the module was accepted");
}

describe("loadCartridge on the hand-written counter cartridge", () => {
  it("loads it and derives the build id and limits", async () => {
    const bytes = await counterVariant();
    const loaded = await loadCartridge(bytes, { source: "counter.wasm" });
    expect(loaded.manifest).toEqual(counterManifest());
    expect(loaded.buildId).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(loaded.source).toBe("counter.wasm");
    expect(loaded.exchange).toEqual({ ptr: 4096, len: 32768 });
    // One batch env needs 2 states + action + obs + info = 8 + 8 + 4 + 8 + 12 = 40 bytes.
    expect(loaded.maxBatch).toBe(Math.floor(32768 / 40));
    // One rollout step needs action + state + obs + info = 32 bytes.
    expect(loaded.maxRolloutSteps).toBe(32768 / 32);
    expect(loaded.hasLegalActions).toBe(true);
  });

  it("bounds maxBatch by the host option", async () => {
    const loaded = await loadCartridge(await counterVariant(), { maxBatch: 7 });
    expect(loaded.maxBatch).toBe(7);
  });

  it("gives a memory without a declared maximum the host's page cap", async () => {
    const bytes = await counterVariant((w) =>
      replaceOnce(w, '(memory (export "memory") 1 2)', '(memory (export "memory") 1)'),
    );
    const loaded = await loadCartridge(bytes, { maxMemoryPages: 3 });
    const { exports } = instantiateSandboxed(loaded.module);
    expect(exports.memory.grow(2)).toBe(1);
    expect(() => exports.memory.grow(1)).toThrow(RangeError);
  });

  it("meters fuel deterministically: the same call costs the same on every run", async () => {
    const loaded = await loadCartridge(await counterVariant());
    const costs = [0, 1].map(() => {
      const instance = new CartridgeInstance(loaded);
      instance.resetInPlace(2n);
      instance.stepInPlace(0);
      return loaded.limits.stepBudgetFuel - Number(instance.fuelLeft);
    });
    expect(costs[0]).toBeGreaterThan(0);
    expect(costs[1]).toBe(costs[0]);
  });
});

describe("loadCartridge rejects bad modules with a typed error", () => {
  it("TooLarge: a file over the size limit", async () => {
    const error = await loadError(counterVariant(), { maxModuleBytes: 100 });
    expect(error.code).toBe("TooLarge");
    expect(error.message).toMatch(/bad\.wasm: module is \d+ bytes; the limit is 100/);
  });

  it("Compile: bytes that are not wasm", async () => {
    const error = await loadError(new TextEncoder().encode("not a wasm module"));
    expect(error.code).toBe("Compile");
    expect(error.message).toMatch(/not a WebAssembly module/);
  });

  it("Compile: a truncated module", async () => {
    const bytes = await counterVariant();
    const error = await loadError(bytes.subarray(0, Math.floor(bytes.byteLength / 2)));
    expect(error.code).toBe("Compile");
    expect(error.message).toMatch(/truncated or corrupt|invalid WebAssembly/);
  });

  it("ForbiddenImport: an import other than env.abort, named in the message", async () => {
    const bytes = counterVariant((w) =>
      replaceOnce(
        w,
        '(import "env" "abort"',
        '(import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))\n(import "env" "abort"',
      ),
    );
    const error = await loadError(bytes);
    expect(error.code).toBe("ForbiddenImport");
    expect(error.message).toContain("wasi_snapshot_preview1.clock_time_get");
  });

  it("ForbiddenImport: env.abort imported as something other than a function", async () => {
    const bytes = counterVariant((w) =>
      replaceOnce(
        w,
        '(import "env" "abort" (func $abort (param i32 i32 i32 i32)))',
        '(import "env" "abort" (global $abort i32))',
      ),
    );
    expect((await loadError(bytes)).code).toBe("ForbiddenImport");
  });

  const exportNames = [
    "cartridge_abi_version",
    "cartridge_manifest_ptr",
    "cartridge_manifest_len",
    "cartridge_exchange_ptr",
    "cartridge_exchange_len",
    "cartridge_reset",
    "cartridge_step",
    "cartridge_step_batch",
    "cartridge_rollout",
    "cartridge_legal_actions",
    "memory",
  ];
  it.each(exportNames)("MissingExport: without %s", async (name) => {
    const bytes = counterVariant((w) => replaceOnce(w, `(export "${name}")`, ""));
    const error = await loadError(bytes);
    expect(error.code).toBe("MissingExport");
    expect(error.message).toContain(name);
  });

  it("MissingExport: an export with the wrong signature", async () => {
    const bytes = counterVariant((w) =>
      replaceOnce(
        w,
        '(func (export "cartridge_exchange_len") (result i32) (i32.const 32768))',
        '(func (export "cartridge_exchange_len") (result i64) (i64.const 32768))',
      ),
    );
    const error = await loadError(bytes);
    expect(error.code).toBe("MissingExport");
    expect(error.message).toContain(
      "cartridge_exchange_len has signature () -> i64; expected () -> i32",
    );
  });

  it("MissingExport: a required function exported as a global", async () => {
    const bytes = counterVariant((w) =>
      replaceOnce(
        replaceOnce(w, '(func (export "cartridge_abi_version") (result i32) (i32.const 1))', ""),
        "(global $scratch i32 (i32.const 61440))",
        '(global $scratch i32 (i32.const 61440))\n(global (export "cartridge_abi_version") i32 (i32.const 1))',
      ),
    );
    const error = await loadError(bytes);
    expect(error.code).toBe("MissingExport");
    expect(error.message).toContain("must be a function");
  });

  it("AbiVersion: cartridge_abi_version() returns 2", async () => {
    const bytes = counterVariant((w) =>
      replaceOnce(
        w,
        '(func (export "cartridge_abi_version") (result i32) (i32.const 1))',
        '(func (export "cartridge_abi_version") (result i32) (i32.const 2))',
      ),
    );
    const error = await loadError(bytes);
    expect(error.code).toBe("AbiVersion");
    expect(error.message).toContain("returned 2");
  });

  it("MemoryLimit: initial pages over the cap", async () => {
    const bytes = counterVariant((w) =>
      replaceOnce(w, '(memory (export "memory") 1 2)', '(memory (export "memory") 300)'),
    );
    const error = await loadError(bytes);
    expect(error.code).toBe("MemoryLimit");
    expect(error.message).toContain("300 pages");
  });

  it("MemoryLimit: a declared maximum over the cap", async () => {
    const bytes = counterVariant((w) =>
      replaceOnce(w, '(memory (export "memory") 1 2)', '(memory (export "memory") 1 65536)'),
    );
    const error = await loadError(bytes);
    expect(error.code).toBe("MemoryLimit");
    expect(error.message).toContain("maximum of 65536 pages");
  });

  it("Link: a start function that traps", async () => {
    const bytes = counterVariant((w) =>
      replaceOnce(
        w,
        "(global $scratch",
        "(func $boom unreachable)\n(start $boom)\n(global $scratch",
      ),
    );
    const error = await loadError(bytes);
    expect(error.code).toBe("Link");
    expect(error.message).toContain("start function trapped");
  });

  it("BudgetExceeded: a start function that never returns runs out of fuel", async () => {
    const bytes = counterVariant((w) =>
      replaceOnce(
        w,
        "(global $scratch",
        "(func $spin (loop $l (br $l)))\n(start $spin)\n(global $scratch",
      ),
    );
    const error = await loadError(bytes, { startBudgetFuel: 1000 });
    expect(error.code).toBe("BudgetExceeded");
    expect(error.message).toContain("the start function ran out of fuel");
  });

  it("Link: a data segment that does not fit the memory", async () => {
    const bytes = counterVariant((w) =>
      replaceOnce(w, "(global $scratch", '(data (i32.const 131070) "abcd")\n(global $scratch'),
    );
    expect((await loadError(bytes)).code).toBe("Link");
  });

  it("BadManifest: not JSON", async () => {
    const error = await loadError(watToWasm(withManifestText(COUNTER_WAT, "{not json")));
    expect(error.code).toBe("BadManifest");
    expect(error.message).toContain("not valid UTF-8 JSON");
  });

  it("BadManifest: not UTF-8", async () => {
    const bytes = watToWasm(replaceOnce(COUNTER_WAT, '{\\"abi_version\\"', '{\\"\\ff\\"'));
    expect((await loadError(bytes)).code).toBe("BadManifest");
  });

  it("BadManifest: an unknown field, named in the message", async () => {
    const error = await loadError(watToWasm(withManifest({ colour: "red" })));
    expect(error.code).toBe("BadManifest");
    expect(error.message).toContain("colour");
  });

  it("BadManifest: a size that does not match the observation shape", async () => {
    const error = await loadError(watToWasm(withManifest({ obs_bytes: 12 })));
    expect(error.code).toBe("BadManifest");
    expect(error.message).toContain("obs_bytes");
  });

  it("BadManifest: a manifest pointer outside memory", async () => {
    const bytes = counterVariant((w) =>
      replaceOnce(
        w,
        '(func (export "cartridge_manifest_ptr") (result i32) (i32.const 64))',
        '(func (export "cartridge_manifest_ptr") (result i32) (i32.const 131000))',
      ),
    );
    const error = await loadError(bytes);
    expect(error.code).toBe("BadManifest");
    expect(error.message).toContain("outside");
  });

  it("BadManifest: a misaligned exchange region", async () => {
    const bytes = counterVariant((w) =>
      replaceOnce(w, "(result i32) (i32.const 4096))", "(result i32) (i32.const 4100))"),
    );
    const error = await loadError(bytes);
    expect(error.code).toBe("BadManifest");
    expect(error.message).toContain("16-byte aligned");
  });

  it("BadManifest: an exchange region too small for the manifest sizes", async () => {
    const bytes = counterVariant((w) =>
      replaceOnce(w, "(result i32) (i32.const 32768))", "(result i32) (i32.const 32))"),
    );
    const error = await loadError(bytes);
    expect(error.code).toBe("BadManifest");
    expect(error.message).toContain("too small");
  });

  it("Compile: a module that exports a name reserved for the host's fuel counter", async () => {
    const bytes = counterVariant((w) =>
      replaceOnce(w, "(global $scratch i32", '(global $scratch (export "__cartridge_fuel") i32'),
    );
    const error = await loadError(bytes);
    expect(error.code).toBe("Compile");
    expect(error.message).toContain("reserved");
  });

  it("Compile: any export under the host's reserved __cartridge_ prefix", async () => {
    const bytes = counterVariant((w) =>
      replaceOnce(w, "(global $scratch i32", '(global $scratch (export "__cartridge_later") i32'),
    );
    const error = await loadError(bytes);
    expect(error.code).toBe("Compile");
    expect(error.message).toContain("__cartridge_later");
  });
});
