import { type BuildSource, CartridgeEngine } from "./cartridge-engine.js";
import type { Transition } from "./engine.js";
import { CallError } from "./errors.js";
import { InstancePool } from "./instance-pool.js";
import type { LoadedCartridge } from "./loader.js";
import type { RegisteredBuild } from "./registry.js";

/**
 * The unary fast path of the worker pool: a step or reset first runs on the caller's thread with a
 * small fuel slice, and only when the slice is not enough does it go to a worker with the full
 * budget.
 *
 * Why: handing a call to a worker costs two thread wake-ups (a message each way), several times
 * what a bundled game's step costs, and on a loaded machine the larger part of a unary Step's
 * latency; and a Step queued behind stream chunks waits for a worker. Why it is safe: fuel bounds
 * time (docs/abi.md, section 7), so a slice of `sliceFuel` units bounds how long guest code can
 * hold the event loop (10,000 units: microseconds for ordinary code, about 1.6 ms for the worst
 * cache-missing code measured), and a step is a function of its input state and action, so
 * running it again in a worker gives what the worker alone would have given. A build whose call
 * ran out of the slice or trapped here is demoted: its calls go straight to the workers from then
 * on, so a hostile cartridge costs the event loop one slice, once. Errors about the request
 * (bad sizes, bad seed, a status the cartridge returned) are answered here, as a worker would.
 */
export class InlineSlice {
  private readonly sliced = new WeakMap<LoadedCartridge, RegisteredBuild>();
  private readonly demoted = new WeakSet<LoadedCartridge>();
  /** The build of the call in progress (calls are synchronous, so one at a time). */
  private active: RegisteredBuild | undefined;
  private readonly engine: CartridgeEngine;
  /** Calls answered here, and calls handed on to a worker after trying here (for tests, metrics). */
  readonly counts = { inline: 0, handedOn: 0 };

  constructor(readonly sliceFuel: number) {
    if (!Number.isInteger(sliceFuel) || sliceFuel < 1) {
      throw new RangeError(`inline slice fuel must be a positive integer, got ${sliceFuel}`);
    }
    const source: BuildSource = {
      resolve: () => {
        if (this.active === undefined) throw new Error("InlineSlice: no call in progress");
        return this.active;
      },
      list: () => [],
    };
    this.engine = new CartridgeEngine(source);
  }

  /** True when calls of this build go straight to the workers. */
  isDemoted(build: RegisteredBuild): boolean {
    return this.demoted.has(build.cartridge);
  }

  /** The step's transition, or undefined when it must run in a worker. */
  step(build: RegisteredBuild, state: Uint8Array, action: Uint8Array): Transition | undefined {
    return this.attempt(build, (engine, selector) => engine.step(selector, state, action));
  }

  /** The reset's transition, or undefined when it must run in a worker. */
  reset(build: RegisteredBuild, seed: bigint, hint?: Uint8Array): Transition | undefined {
    return this.attempt(build, (engine, selector) => engine.reset(selector, seed, hint));
  }

  private attempt(
    build: RegisteredBuild,
    run: (engine: CartridgeEngine, selector: { envId: string; buildId: string }) => Transition,
  ): Transition | undefined {
    const { cartridge } = build;
    if (this.demoted.has(cartridge)) return undefined;
    this.active = this.slicedBuild(build);
    try {
      const result = run(this.engine, {
        envId: cartridge.manifest.env_id,
        buildId: cartridge.buildId,
      });
      this.counts.inline += 1;
      return result;
    } catch (error) {
      if (!(error instanceof CallError) || !HANDED_ON.has(error.code)) throw error;
      this.demoted.add(cartridge);
      this.counts.handedOn += 1;
      return undefined;
    } finally {
      this.active = undefined;
    }
  }

  /**
   * The build with its step and reset budgets cut to the slice, and a pool of its own. The start
   * function keeps its budget (the bundled games' runtime set-up needs more than a slice): it runs
   * here once per build, as it did when the build was loaded, since an instance that traps or runs
   * out demotes the build instead of being replaced.
   */
  private slicedBuild(build: RegisteredBuild): RegisteredBuild {
    const known = this.sliced.get(build.cartridge);
    if (known !== undefined) return known;
    const fuel = this.sliceFuel;
    const cartridge: LoadedCartridge = {
      ...build.cartridge,
      limits: {
        ...build.cartridge.limits,
        stepBudgetFuel: Math.min(fuel, build.cartridge.limits.stepBudgetFuel),
        resetBudgetFuel: Math.min(fuel, build.cartridge.limits.resetBudgetFuel),
      },
    };
    const sliced: RegisteredBuild = {
      cartridge,
      capabilities: build.capabilities,
      pool: new InstancePool(cartridge, 1),
    };
    this.sliced.set(build.cartridge, sliced);
    return sliced;
  }
}

/**
 * Failures that say "not here" rather than "not at all": the slice ran out, or the call trapped
 * (the worker runs it again with the full budget and reports it with the worker's own detail).
 */
const HANDED_ON: ReadonlySet<string> = new Set(["BudgetExceeded", "Trap"]);
