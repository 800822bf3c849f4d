import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import { CallError } from "../../../host/runtime/errors.js";
import { Registry } from "../../../host/runtime/registry.js";
import { counterVariant } from "../../fixtures/counter-variants.js";

const TICTACTOE = fileURLToPath(
  new URL("../../../build/cartridges/tictactoe-v1.wasm", import.meta.url),
);

/** Byte strings that are usually the right length and sometimes not. */
function bytesAround(size: number): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.uint8Array({ minLength: size, maxLength: size }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2 * size + 2 }) },
  );
}

/** Runs `call`; passes when it returns or throws a typed CallError, and reports which. */
function okOrCallError(call: () => unknown): string {
  try {
    call();
    return "ok";
  } catch (error) {
    if (error instanceof CallError) return error.code;
    throw error;
  }
}

async function engineWith(bytes: Uint8Array): Promise<{ engine: CartridgeEngine; envId: string }> {
  const registry = new Registry();
  const { envId } = await registry.register(bytes, "fuzz.wasm");
  return { engine: new CartridgeEngine(registry), envId };
}

async function fuzz(bytes: Uint8Array): Promise<Set<string>> {
  const { engine, envId } = await engineWith(bytes);
  const { manifest } = engine.capabilities({ envId });
  const outcomes = new Set<string>();
  fc.assert(
    fc.property(bytesAround(manifest.state_bytes), bytesAround(manifest.action_bytes), (s, a) => {
      outcomes.add(okOrCallError(() => engine.step({ envId }, s, a)));
    }),
    { numRuns: 400, seed: 20_261_122 },
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 8 }),
      fc.uint8Array({ maxLength: 8 * (manifest.state_bytes + manifest.action_bytes) }),
      (count, noise) => {
        const states = new Uint8Array(count * manifest.state_bytes);
        const actions = new Uint8Array(count * manifest.action_bytes);
        states.set(noise.subarray(0, states.byteLength));
        actions.set(noise.subarray(0, actions.byteLength));
        outcomes.add(okOrCallError(() => engine.batchStep({ envId }, states, actions)));
      },
    ),
    { numRuns: 100, seed: 20_261_123 },
  );
  // Whatever happened before, the engine still serves a normal reset and step.
  const t = engine.reset({ envId }, 1n);
  expect(t.state.byteLength).toBe(manifest.state_bytes);
  return outcomes;
}

describe("random bytes as state and action never crash the engine", () => {
  it("on the counter cartridge: always OK or a typed CallError", async () => {
    const outcomes = await fuzz(await counterVariant());
    // The generator reaches both accepted and rejected inputs.
    expect(outcomes.has("ok")).toBe(true);
    expect(outcomes.has("BadState")).toBe(true);
  });

  it("on the bundled tic-tac-toe cartridge: always OK or a typed CallError", async () => {
    if (!existsSync(TICTACTOE)) throw new Error(`${TICTACTOE} is missing: run npm run build`);
    const outcomes = await fuzz(new Uint8Array(await readFile(TICTACTOE)));
    expect(outcomes.has("BadState")).toBe(true);
  });
});
