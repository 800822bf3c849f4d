import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import { CallError } from "../../../host/runtime/errors.js";
import { Registry, type RegistryOptions } from "../../../host/runtime/registry.js";
import { counterVariant } from "../../fixtures/counter-variants.js";

/** A registry and engine with the good counter cartridge registered as counter-v1. */
export async function counterEngine(
  options: RegistryOptions = {},
): Promise<{ registry: Registry; engine: CartridgeEngine }> {
  const registry = new Registry(options);
  await registry.register(await counterVariant(), "counter.wasm");
  return { registry, engine: new CartridgeEngine(registry) };
}

/** Runs `call` and returns the CallError it throws (fails the test when it returns). */
export function callError(call: () => unknown): CallError {
  try {
    call();
  } catch (error) {
    if (error instanceof CallError) return error;
    throw error;
  }
  throw new Error("the call succeeded");
}

/** Little-endian u32 bytes. */
export function u32s(...values: number[]): Uint8Array {
  return new Uint8Array(Uint32Array.from(values).buffer);
}

/** A counter state: value, steps. */
export function counterState(value: number, steps: number): Uint8Array {
  return u32s(value, steps);
}
