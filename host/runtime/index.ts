/**
 * The cartridge runtime's public API: loading and validating modules, the registry of envs and
 * the in-process engine the gRPC layer serves.
 */
import { CartridgeEngine, type EngineOptions } from "./cartridge-engine.js";
import { Registry, type RegistryOptions } from "./registry.js";

export * from "./abi.js";
export { CartridgeEngine, type EngineOptions } from "./cartridge-engine.js";
export { type DirectoryLoadResult, loadDirectory } from "./directory.js";
export type * from "./engine.js";
export * from "./errors.js";
export { InlineEngine } from "./inline-engine.js";
export { CartridgeInstance, StepFlag, statusError } from "./instance.js";
export { InstancePool } from "./instance-pool.js";
export { LOAD_WATCHDOG_MS, LoadProbe, type LoadProbeOptions } from "./load-probe.js";
export { type GuestProber, type LoadedCartridge, loadCartridge } from "./loader.js";
export * from "./manifest.js";
export { RandomPolicy } from "./random-policy.js";
export { type RegisteredBuild, Registry, type RegistryOptions } from "./registry.js";
export {
  DEFAULT_LIMITS,
  type LoadOptions,
  MAX_ROLLOUT_STEPS,
  resolveLimits,
  type SandboxLimits,
} from "./sandbox-options.js";
export {
  formatReport,
  type ValidationCheck,
  type ValidationReport,
  validateCartridge,
} from "./validate.js";

/** A registry and an engine over it, ready to have cartridges registered. */
export function createEngine(options: RegistryOptions & EngineOptions = {}): {
  registry: Registry;
  engine: CartridgeEngine;
} {
  const registry = new Registry(options);
  return { registry, engine: new CartridgeEngine(registry, options) };
}
