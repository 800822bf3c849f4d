import { InfoOffset, ROLLOUT_FLAG_OBS, Status } from "./abi.js";
import { CallError, type CallErrorCode } from "./errors.js";
import {
  type ArrayLayout,
  batchLayout,
  rolloutLayout,
  type SingleLayout,
  singleLayout,
} from "./exchange-layout.js";
import { FuelExport } from "./fuel.js";
import type { LoadedCartridge } from "./loader.js";
import { firstTrappingCapWithin, outcomeOf, TRAP_STEP_FUEL_BUDGETS } from "./rollout-trap-step.js";
import {
  type CartridgeExports,
  classifyFailure,
  instantiateSandboxed,
} from "./sandbox-instantiate.js";
import {
  batchBudgetFuel,
  batchGroupEnvs,
  rolloutBudgetFuel,
  type SandboxLimits,
} from "./sandbox-options.js";
import {
  replayHex,
  stepCall,
  type TrapReport,
  withLocatedFrames,
  withTrapContext,
} from "./trap-report.js";

/** The typed error for each non-OK status an entry point may return. */
const STATUS_ERRORS: Record<number, { code: CallErrorCode; text: string }> = {
  [Status.IllegalAction]: { code: "IllegalAction", text: "the action is illegal in this state" },
  [Status.MalformedState]: { code: "BadState", text: "the state bytes are malformed" },
  [Status.MalformedAction]: { code: "BadAction", text: "the action bytes are malformed" },
  [Status.EpisodeOver]: { code: "EpisodeOver", text: "the episode is over; reset instead" },
  [Status.MalformedHint]: { code: "BadHint", text: "the reset hint is malformed" },
  [Status.BadArgument]: { code: "BadArgument", text: "the cartridge rejected an argument" },
  [Status.Internal]: { code: "CartridgeInternal", text: "the cartridge broke its own invariant" },
};

/** The typed error for an ABI status returned by `what`. */
export function statusError(status: number, what: string, envId?: string): CallError {
  const known = STATUS_ERRORS[status];
  if (known === undefined) {
    return new CallError("CartridgeInternal", `${what} returned unknown status ${status}`, envId);
  }
  return new CallError(known.code, `${what}: ${known.text} (status ${status})`, envId);
}

const SEED_LIMIT = 1n << 64n;

/**
 * Throws `BadArgument` unless `seed` is a u64. The wasm boundary would otherwise wrap it silently
 * (2^64 becomes 0, -1 becomes 2^64 - 1), and two different requested seeds would replay the same.
 */
function checkSeed(seed: bigint, envId: string): void {
  if (typeof seed !== "bigint" || seed < 0n || seed >= SEED_LIMIT) {
    throw new CallError("BadArgument", `seed must be an integer in [0, 2^64), got ${seed}`, envId);
  }
}

/**
 * Throws `BadArgument` unless `count` is an integer in 1..`capacity`: more than the layout holds
 * would make the packed arrays overlap, which the ABI promises never happens.
 */
function checkCapacity(name: string, count: number, capacity: number, envId: string): void {
  if (!Number.isInteger(count) || count < 1 || count > capacity) {
    throw new CallError(
      "BadArgument",
      `${name} must be an integer in 1..${capacity} (what the exchange region holds), got ${count}`,
      envId,
    );
  }
}

/** Bit 0: terminated; bit 1: truncated. Returned by the zero-copy step. */
export const StepFlag = { terminated: 1, truncated: 2 } as const;

/**
 * One instantiated cartridge. It owns typed-array views over the exchange region (refreshed when
 * the memory grows), moves bytes in and out, sets the fuel before every call and turns failures
 * into typed errors. After a trap the instance is `dead` and must be replaced: its memory may be
 * inconsistent.
 *
 * Methods that return `Uint8Array`s return views into linear memory that stay valid only until
 * the next call; copy them (`.slice()`) to keep them.
 */
export class CartridgeInstance {
  /** True after a trap or an exhausted budget; the instance must not be used again. */
  dead = false;
  readonly single: SingleLayout;
  readonly batch: ArrayLayout;
  readonly rolloutArrays: ArrayLayout;
  private readonly exports: CartridgeExports;
  // The export functions, read once: the exports object is a large frozen object whose property
  // lookups cost more than the calls themselves on the hot path.
  private readonly setFuel: CartridgeExports[typeof FuelExport.setFuel];
  private readonly resetFn: CartridgeExports["cartridge_reset"];
  private readonly stepFn: CartridgeExports["cartridge_step"];
  private readonly stepBatchFn: CartridgeExports["cartridge_step_batch"];
  private readonly rolloutFn: CartridgeExports["cartridge_rollout"];
  private readonly legalFn: CartridgeExports["cartridge_legal_actions"];
  private readonly envId: string;
  private readonly limits: SandboxLimits;
  /** Most envs per `cartridge_step_batch` call. */
  private readonly batchGroup: number;
  // Numbers the hot paths read on every call, copied out of nested objects once.
  private readonly stepFuel: number;
  private readonly resetFuel: number;
  private readonly stateSlot: number;
  private readonly actionSlot: number;
  private readonly obsSlot: number;
  private readonly infoSlot: number;
  private readonly hintSlot: number;
  private readonly stateBytes: number;
  private readonly obsBytes: number;
  private readonly infoBytes: number;
  private u8: Uint8Array;
  private f32: Float32Array;
  private u32: Uint32Array;

  constructor(readonly cartridge: LoadedCartridge) {
    this.exports = instantiateSandboxed(cartridge.module, cartridge.limits).exports;
    this.setFuel = this.exports[FuelExport.setFuel];
    this.resetFn = this.exports.cartridge_reset;
    this.stepFn = this.exports.cartridge_step;
    this.stepBatchFn = this.exports.cartridge_step_batch;
    this.rolloutFn = this.exports.cartridge_rollout;
    this.legalFn = this.exports.cartridge_legal_actions;
    this.envId = cartridge.manifest.env_id;
    this.limits = cartridge.limits;
    this.batchGroup = batchGroupEnvs(cartridge.limits);
    const base = cartridge.exchange.ptr;
    this.single = singleLayout(base, cartridge.sizes);
    this.batch = batchLayout(base, cartridge.sizes, cartridge.maxBatch);
    this.rolloutArrays = rolloutLayout(base, cartridge.sizes, cartridge.maxRolloutSteps);
    this.stepFuel = cartridge.limits.stepBudgetFuel;
    this.resetFuel = cartridge.limits.resetBudgetFuel;
    this.stateSlot = this.single.state;
    this.actionSlot = this.single.action;
    this.obsSlot = this.single.obs;
    this.infoSlot = this.single.info;
    this.hintSlot = this.single.hint;
    this.stateBytes = cartridge.sizes.stateBytes;
    this.obsBytes = cartridge.sizes.obsBytes;
    this.infoBytes = cartridge.sizes.infoBytes;
    const buffer = this.exports.memory.buffer;
    this.u8 = new Uint8Array(buffer);
    this.f32 = new Float32Array(buffer);
    this.u32 = new Uint32Array(buffer);
  }

  /** The whole linear memory as bytes (refreshed if it grew). */
  get memory(): Uint8Array {
    if (this.u8.byteLength === 0) this.refreshViews();
    return this.u8;
  }

  private refreshViews(): void {
    const buffer = this.exports.memory.buffer;
    this.u8 = new Uint8Array(buffer);
    this.f32 = new Float32Array(buffer);
    this.u32 = new Uint32Array(buffer);
  }

  /** Fuel left after the last call (negative when it ran out). */
  get fuelLeft(): bigint {
    return this.exports[FuelExport.fuel]();
  }

  private fail(error: unknown, what: string, fuel: number): never {
    throw this.failure(error, what, fuel);
  }

  /** Marks the instance dead and returns the typed error for a call that threw. */
  private failure(error: unknown, what: string, fuel: number): Error {
    this.dead = true;
    const budget = { fuel, maxCallDepth: this.limits.maxCallDepth };
    const failure = classifyFailure(
      error,
      this.exports,
      budget,
      what,
      this.envId,
      this.cartridge.buildId,
    );
    return withLocatedFrames(failure, this.cartridge.debug);
  }

  /**
   * Runs one export with `fuel` units: a trap marks the instance dead and becomes a typed error.
   * The per-step hot path (`stepInPlace`) writes this out by hand to avoid the closure.
   */
  private metered(exportName: string, fuel: number, call: () => number): number {
    try {
      this.setFuel(fuel);
      return call();
    } catch (error) {
      this.fail(error, exportName, fuel);
    }
  }

  private check(status: number, what: string): void {
    if (status !== Status.Ok) throw statusError(status, what, this.envId);
  }

  private assertAlive(): void {
    if (this.dead) {
      throw new CallError("Trap", "this cartridge instance trapped earlier", this.envId);
    }
  }

  /** Copies `bytes` into linear memory at `address`. */
  write(address: number, bytes: Uint8Array): void {
    this.memory.set(bytes, address);
  }

  /** A view of `length` bytes at `address`, valid until the next call. */
  view(address: number, length: number): Uint8Array {
    return this.memory.subarray(address, address + length);
  }

  /** Starts an episode; the outputs are at `single.stateOut`, `single.obs`, `single.info`. */
  reset(seed: bigint, hint: Uint8Array): void {
    this.assertAlive();
    checkSeed(seed, this.envId);
    const l = this.single;
    const { hintMaxBytes } = this.cartridge.sizes;
    if (hint.byteLength > hintMaxBytes) {
      throw new CallError(
        "BadHint",
        `hint is ${hint.byteLength} bytes; at most ${hintMaxBytes} accepted`,
        this.envId,
      );
    }
    this.write(l.hint, hint);
    let status: number;
    try {
      status = this.metered("cartridge_reset", this.limits.resetBudgetFuel, () =>
        this.resetFn(seed, l.hint, hint.byteLength, l.stateOut, l.obs, l.info),
      );
    } catch (error) {
      const hex = replayHex(hint);
      const call = hex === undefined ? {} : { call: { op: "reset", seed: `${seed}`, hint: hex } };
      throw withTrapContext(error, call as Pick<TrapReport, "call">);
    }
    this.check(status, "reset");
  }

  /** One step from `single.state` with the action at `single.action`, into `single.stateOut`. */
  step(state: Uint8Array, action: Uint8Array): void {
    this.assertAlive();
    const l = this.single;
    const { stateBytes, actionBytes } = this.cartridge.sizes;
    // The slots are packed back to back: a longer input would spill into the next one.
    if (state.byteLength !== stateBytes) {
      throw new CallError(
        "BadState",
        `state is ${state.byteLength} bytes; expected ${stateBytes}`,
        this.envId,
      );
    }
    if (action.byteLength !== actionBytes) {
      throw new CallError(
        "BadAction",
        `action is ${action.byteLength} bytes; expected ${actionBytes}`,
        this.envId,
      );
    }
    this.write(l.state, state);
    this.write(l.action, action);
    try {
      this.callStep(l.state, l.stateOut);
    } catch (error) {
      const call = stepCall(state, action);
      throw call === undefined ? error : withTrapContext(error, { call });
    }
  }

  private callStep(stateIn: number, stateOut: number): void {
    const l = this.single;
    const status = this.metered("cartridge_step", this.limits.stepBudgetFuel, () =>
      this.stepFn(stateIn, l.action, stateOut, l.obs, l.info),
    );
    this.check(status, "step");
  }

  /** Writes the legal-action mask of the state at `stateAddress` to `single.mask`. */
  legalActions(stateAddress: number): Uint8Array {
    this.assertAlive();
    const l = this.single;
    const maskBytes = this.cartridge.sizes.legalMaskBytes;
    const fn = this.legalFn;
    if (fn === undefined || maskBytes === 0) return new Uint8Array(0);
    const status = this.metered("cartridge_legal_actions", this.limits.stepBudgetFuel, () =>
      fn(stateAddress, l.mask),
    );
    this.check(status, "legal actions");
    return this.view(l.mask, maskBytes);
  }

  /**
   * Steps `count` envs packed at `batch.states` / `batch.actions` into `batch.statesOut`,
   * `batch.obs`, `batch.infos`. Per-env statuses are in the info records.
   */
  stepBatch(count: number): void {
    this.callStepBatch(count, this.batch.statesOut);
  }

  /**
   * Steps `count` envs packed at `batch.states` in place (the ABI allows `states_out ==
   * states_in`), with actions at `batch.actions`; observations and infos go to `batch.obs` and
   * `batch.infos`. The zero-copy batch path for hot loops.
   */
  stepBatchInPlace(count: number): void {
    this.callStepBatch(count, this.batch.states);
  }

  private callStepBatch(count: number, statesOut: number): void {
    this.assertAlive();
    const b = this.batch;
    checkCapacity("batch size", count, b.capacity, this.envId);
    const { stateBytes, actionBytes, obsBytes, infoBytes } = this.cartridge.sizes;
    const group = this.batchGroup;
    // Calls of at most `group` envs, each with its own capped budget (sandbox-options.ts).
    for (let start = 0; start < count; start += group) {
      const n = Math.min(group, count - start);
      const fuel = batchBudgetFuel(this.limits, n);
      let status: number;
      try {
        this.setFuel(fuel);
        status = this.stepBatchFn(
          n,
          b.states + start * stateBytes,
          b.actions + start * actionBytes,
          statesOut + start * stateBytes,
          b.obs + start * obsBytes,
          b.infos + start * infoBytes,
        );
      } catch (error) {
        // The first row of the call that trapped; the engine narrows it down to the row.
        throw withTrapContext(this.failure(error, "cartridge_step_batch", fuel), { row: start });
      }
      this.check(status, "batch step");
    }
  }

  /** Resets env `index` of the batch arrays (state, observation and info) in place. */
  resetBatchSlot(index: number, seed: bigint): void {
    this.assertAlive();
    const b = this.batch;
    if (!Number.isInteger(index) || index < 0 || index >= b.capacity) {
      throw new CallError(
        "BadArgument",
        `batch slot ${index} is outside 0..${b.capacity - 1}`,
        this.envId,
      );
    }
    checkSeed(seed, this.envId);
    // The call is written out rather than passed to `metered` as a closure: autoreset calls this
    // for every finished env of a batch.
    const fuel = this.resetFuel;
    let status: number;
    try {
      this.setFuel(fuel);
      status = this.resetFn(
        seed,
        this.hintSlot,
        0,
        b.states + index * this.stateBytes,
        b.obs + index * this.obsBytes,
        b.infos + index * this.infoBytes,
      );
    } catch (error) {
      this.fail(error, "cartridge_reset", fuel);
    }
    if (status !== Status.Ok) throw statusError(status, "reset", this.envId);
  }

  /**
   * Plays one episode inside the cartridge into the rollout arrays and returns the number of
   * steps written.
   */
  rollout(seed: bigint, stepCap: number, includeObs: boolean): number {
    // One budget for the reset and one per step, capped.
    const budget = rolloutBudgetFuel(this.limits, stepCap);
    let result: number;
    try {
      result = this.rolloutWithBudget(seed, stepCap, includeObs, budget);
    } catch (error) {
      if (!(error instanceof CallError) || error.trap === undefined) throw error;
      const step = this.trapStep(seed, stepCap, budget);
      throw withTrapContext(error, {
        ...(step === undefined ? {} : { step }),
        call: { op: "rollout", seed: `${seed}`, stepCap },
      });
    }
    if (result < 0) throw statusError(-result, "rollout", this.envId);
    if (result > stepCap) {
      throw new CallError(
        "CartridgeInternal",
        `cartridge_rollout wrote ${result} steps, more than the cap of ${stepCap}`,
        this.envId,
      );
    }
    return result;
  }

  /** The rollout call itself, with `budget` units (a re-run keeps the original call's budget). */
  private rolloutWithBudget(
    seed: bigint,
    stepCap: number,
    includeObs: boolean,
    budget: number,
  ): number {
    this.assertAlive();
    const r = this.rolloutArrays;
    checkSeed(seed, this.envId);
    checkCapacity("rollout stepCap", stepCap, r.capacity, this.envId);
    const flags = includeObs ? ROLLOUT_FLAG_OBS : 0;
    return this.metered("cartridge_rollout", budget, () =>
      this.rolloutFn(seed, stepCap, flags, r.actions, r.states, r.obs, r.infos),
    );
  }

  /**
   * The step of the episode of `seed` that trapped under `stepCap`, by re-running it with shorter
   * caps on fresh instances of the same build (this one is dead), within a fuel allowance; see
   * rollout-trap-step.ts.
   */
  private trapStep(seed: bigint, stepCap: number, budget: number): number | undefined {
    let probe = new CartridgeInstance(this.cartridge);
    const cap = firstTrappingCapWithin(stepCap, TRAP_STEP_FUEL_BUDGETS * budget, (k) => {
      const outcome = outcomeOf(() => probe.rolloutWithBudget(seed, k, false, budget));
      const fuel = Math.min(budget, budget - Number(probe.fuelLeft));
      // Any failure leaves the probe dead: the next re-run needs a fresh one.
      if (outcome !== "returned") probe = new CartridgeInstance(this.cartridge);
      return { trapped: outcome === "trapped", fuel };
    });
    return cap === undefined ? undefined : cap - 1;
  }

  // ----- Zero-copy path for hot loops: the state lives in `single.state` between calls. -----

  /** Resets into the state slot (`single.state`) without copying anything out. */
  resetInPlace(seed: bigint): void {
    this.assertAlive();
    checkSeed(seed, this.envId);
    // Written out like `stepInPlace`: a host loop resets after every episode.
    const fuel = this.resetFuel;
    let status: number;
    try {
      this.setFuel(fuel);
      status = this.resetFn(seed, this.hintSlot, 0, this.stateSlot, this.obsSlot, this.infoSlot);
    } catch (error) {
      this.fail(error, "cartridge_reset", fuel);
    }
    if (status !== Status.Ok) throw statusError(status, "reset", this.envId);
  }

  /**
   * Steps the state slot in place with a u32 action (discrete spaces) and returns `StepFlag`
   * bits; the reward is `lastReward` and the observation `obsView()`. Allocates nothing.
   */
  stepInPlace(action: number): number {
    // Written out rather than composed from the helpers above: this is the per-step hot path.
    if (this.dead) this.assertAlive();
    if (this.u32.byteLength === 0) this.refreshViews();
    const state = this.stateSlot;
    const actionAt = this.actionSlot;
    const info = this.infoSlot;
    this.u32[actionAt >>> 2] = action;
    const fuel = this.stepFuel;
    let status: number;
    try {
      this.setFuel(fuel);
      status = this.stepFn(state, actionAt, state, this.obsSlot, info);
    } catch (error) {
      this.fail(error, "cartridge_step", fuel);
    }
    if (status !== Status.Ok) throw statusError(status, "step", this.envId);
    if (this.u8.byteLength === 0) this.refreshViews();
    const u8 = this.u8;
    return (
      (u8[info + InfoOffset.terminated] as number) |
      ((u8[info + InfoOffset.truncated] as number) << 1)
    );
  }

  /** Legal-action mask of the state slot (a view, valid until the next call). */
  legalActionsInPlace(): Uint8Array {
    return this.legalActions(this.single.state);
  }

  /** Reward in the info record of the last single reset or step. */
  get lastReward(): number {
    if (this.f32.byteLength === 0) this.refreshViews();
    return this.f32[(this.single.info + InfoOffset.reward) >>> 2] as number;
  }

  /** `StepFlag` bits of the last single reset or step. */
  get lastFlags(): number {
    const u8 = this.memory;
    const info = this.single.info;
    return (
      (u8[info + InfoOffset.terminated] as number) |
      ((u8[info + InfoOffset.truncated] as number) << 1)
    );
  }

  /** Observation written by the last single reset or step. */
  obsView(): Uint8Array {
    return this.view(this.single.obs, this.cartridge.sizes.obsBytes);
  }
}
