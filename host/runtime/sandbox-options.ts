/**
 * Limits the host puts on every cartridge it loads. They are part of the sandbox: a module that
 * does not fit them is rejected at load, and a call that exceeds them fails with a typed error.
 */
export interface LoadOptions {
  /** Largest accepted module file, in bytes (default 8 MiB). */
  readonly maxModuleBytes?: number;
  /** Largest linear memory, in 64 KiB pages (default 256 = 16 MiB). */
  readonly maxMemoryPages?: number;
  /** Fuel for one reset or step, per env in a batch step and per step in a rollout. */
  readonly stepBudgetFuel?: number;
  /** Largest batch the host ever asks for, whatever the exchange region allows (default 4096). */
  readonly maxBatch?: number;
  /**
   * Deepest wasm call nesting a call may reach (default 1024). Exceeding it counts as running
   * out of budget; it is counted in the module itself so that it is the same on every machine,
   * unlike the engine's own stack limit.
   */
  readonly maxCallDepth?: number;
}

/** `LoadOptions` with every default filled in. */
export type SandboxLimits = Required<LoadOptions>;

export const DEFAULT_LIMITS: SandboxLimits = {
  maxModuleBytes: 8 * 1024 * 1024,
  maxMemoryPages: 256,
  stepBudgetFuel: 10_000_000,
  maxBatch: 4096,
  maxCallDepth: 1024,
};

/** Largest rollout step cap the host accepts, whatever the exchange region allows. */
export const MAX_ROLLOUT_STEPS = 1_000_000;

function positiveInt(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${name} must be an integer in 1..${max}, got ${value}`);
  }
  return value;
}

/** Fills in defaults and checks that every limit is a sane positive integer. */
export function resolveLimits(options: LoadOptions = {}): SandboxLimits {
  return {
    maxModuleBytes: positiveInt(
      "maxModuleBytes",
      options.maxModuleBytes ?? DEFAULT_LIMITS.maxModuleBytes,
      1 << 30,
    ),
    maxMemoryPages: positiveInt(
      "maxMemoryPages",
      options.maxMemoryPages ?? DEFAULT_LIMITS.maxMemoryPages,
      65_536,
    ),
    stepBudgetFuel: positiveInt(
      "stepBudgetFuel",
      options.stepBudgetFuel ?? DEFAULT_LIMITS.stepBudgetFuel,
      2 ** 40,
    ),
    maxBatch: positiveInt("maxBatch", options.maxBatch ?? DEFAULT_LIMITS.maxBatch, 1 << 20),
    maxCallDepth: positiveInt(
      "maxCallDepth",
      options.maxCallDepth ?? DEFAULT_LIMITS.maxCallDepth,
      1 << 20,
    ),
  };
}
