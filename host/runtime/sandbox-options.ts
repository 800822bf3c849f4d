/**
 * Limits the host puts on every cartridge it loads. They are part of the sandbox: a module that
 * does not fit them is rejected at load, and a call that exceeds them fails with a typed error.
 */
export interface LoadOptions {
  /** Largest accepted module file, in bytes (default 8 MiB). */
  readonly maxModuleBytes?: number;
  /** Largest linear memory, in 64 KiB pages (default 256 = 16 MiB). */
  readonly maxMemoryPages?: number;
  /**
   * Fuel for one step (and one legal-actions call), per env in a batch step and per step in a
   * rollout (fuel-costs.ts says what a unit is; docs/abi.md, section 7, how long it takes).
   */
  readonly stepBudgetFuel?: number;
  /** Fuel for one reset, and for the reset at the start of each rollout episode. */
  readonly resetBudgetFuel?: number;
  /** Fuel for the module's start function and each constant export read at load. */
  readonly startBudgetFuel?: number;
  /**
   * Most fuel one batch step or one rollout episode gets, however large the request: the
   * per-env and per-step budgets add up to at most this, which bounds the wall time of one call.
   */
  readonly callBudgetCapFuel?: number;
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

/**
 * Defaults. The fuel budgets are calibrated (docs/abi.md, section 7; bench/fuel.bench.ts) so that
 * the slowest code per unit we could write runs out within about 100 ms per call on the reference
 * machine, while the bundled games use a small fraction of them.
 */
export const DEFAULT_LIMITS: SandboxLimits = {
  maxModuleBytes: 8 * 1024 * 1024,
  maxMemoryPages: 256,
  stepBudgetFuel: 100_000,
  resetBudgetFuel: 500_000,
  startBudgetFuel: 2_000_000,
  callBudgetCapFuel: 2_000_000,
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
    resetBudgetFuel: positiveInt(
      "resetBudgetFuel",
      options.resetBudgetFuel ?? DEFAULT_LIMITS.resetBudgetFuel,
      2 ** 40,
    ),
    startBudgetFuel: positiveInt(
      "startBudgetFuel",
      options.startBudgetFuel ?? DEFAULT_LIMITS.startBudgetFuel,
      2 ** 40,
    ),
    callBudgetCapFuel: positiveInt(
      "callBudgetCapFuel",
      options.callBudgetCapFuel ?? DEFAULT_LIMITS.callBudgetCapFuel,
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

/**
 * Envs stepped by one `cartridge_step_batch` call: as many step budgets as fit the call cap. The
 * host splits a larger batch into calls of this many envs (the ABI's packed arrays allow any
 * sub-range), so every call is bounded by the cap while a batch of any size gets a full step
 * budget per env.
 */
export function batchGroupEnvs(limits: SandboxLimits): number {
  return Math.max(1, Math.floor(callCap(limits) / limits.stepBudgetFuel));
}

/** Fuel of one batch call of `count` envs (at most `batchGroupEnvs`): a step budget per env. */
export function batchBudgetFuel(limits: SandboxLimits, count: number): number {
  return Math.min(limits.stepBudgetFuel * count, callCap(limits));
}

/** Fuel of one rollout episode of at most `stepCap` steps: a reset and a step budget each, capped. */
export function rolloutBudgetFuel(limits: SandboxLimits, stepCap: number): number {
  return Math.min(limits.resetBudgetFuel + limits.stepBudgetFuel * stepCap, callCap(limits));
}

/** The cap never undercuts a single step or reset, so one env or one step always gets its own. */
function callCap(limits: SandboxLimits): number {
  return Math.max(limits.callBudgetCapFuel, limits.stepBudgetFuel, limits.resetBudgetFuel);
}
