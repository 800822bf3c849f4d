import { describe, expect, it } from "vitest";
import { LoadError } from "../../../host/runtime/errors.js";
import { loadCartridge } from "../../../host/runtime/loader.js";
import { MANIFEST_MAX_BYTES, parseManifest } from "../../../host/runtime/manifest.js";
import { counterManifest, counterVariant, replaceOnce } from "../../fixtures/counter-variants.js";

/**
 * A manifest larger than 64 KiB is refused before the host reads it (a hostile author could
 * otherwise make every load parse megabytes of JSON), with a message that says the size and the
 * limit.
 */

async function loadFailure(bytes: Uint8Array): Promise<LoadError> {
  const error = await loadCartridge(bytes, { source: "big-manifest.wasm" }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof LoadError)) throw new Error(`expected a LoadError, got ${error}`);
  return error;
}

describe("manifest size", () => {
  it("a module declaring a manifest over 64 KiB is refused with BadManifest at load", async () => {
    const bytes = await counterVariant((wat) =>
      replaceOnce(
        wat,
        /\(func \(export "cartridge_manifest_len"\) \(result i32\) \(i32\.const \d+\)\)/,
        `(func (export "cartridge_manifest_len") (result i32) (i32.const ${MANIFEST_MAX_BYTES + 1}))`,
      ),
    );
    const error = await loadFailure(bytes);
    expect(error.code).toBe("BadManifest");
    expect(error.message).toBe(
      `big-manifest.wasm: manifest is ${MANIFEST_MAX_BYTES + 1} bytes; the limit is ${MANIFEST_MAX_BYTES}`,
    );
  });

  it("manifest bytes over 64 KiB are refused before they are parsed", () => {
    const text = JSON.stringify({ ...counterManifest(), notes: "x".repeat(MANIFEST_MAX_BYTES) });
    const bytes = new TextEncoder().encode(text);
    expect(() => parseManifest(bytes, "big.wasm")).toThrow(
      new LoadError(
        "BadManifest",
        `manifest is ${bytes.byteLength} bytes; the limit is ${MANIFEST_MAX_BYTES}`,
        "big.wasm",
      ),
    );
  });
});
