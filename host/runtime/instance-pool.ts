import { CallError } from "./errors.js";
import { IdleInstances, type IdleOwner } from "./idle-instances.js";
import { CartridgeInstance } from "./instance.js";
import type { LoadedCartridge } from "./loader.js";

/**
 * Idle instances of one build, reused across calls. A dead instance (one that trapped) is never
 * returned to the pool, so the next `acquire` instantiates a fresh one from the same module. The
 * idle instances count against `budget`, the thread's bound on idle memory, which may evict them.
 */
export class InstancePool implements IdleOwner {
  private readonly idle: CartridgeInstance[] = [];
  /** Instances created over the pool's life, for tests and metrics. */
  created = 0;

  constructor(
    readonly cartridge: LoadedCartridge,
    /** Most idle instances kept; extra released ones are dropped for the collector. */
    readonly maxIdle = 4,
    /** The thread's bound on the memory of idle instances, shared by its pools. */
    private readonly budget: IdleInstances = new IdleInstances(),
  ) {}

  acquire(): CartridgeInstance {
    const instance = this.idle.pop();
    if (instance !== undefined) {
      this.budget.remove(instance);
      return instance;
    }
    try {
      const fresh = new CartridgeInstance(this.cartridge);
      this.created++;
      return fresh;
    } catch (cause) {
      // The module instantiated at load, so this is a resource problem (memory), not bad input;
      // it still surfaces as a typed error so that the engine's callers see a CallError.
      const message = cause instanceof Error ? cause.message : String(cause);
      throw new CallError(
        "Trap",
        `could not instantiate ${this.cartridge.manifest.env_id}: ${message}`,
        this.cartridge.manifest.env_id,
        { cause },
      );
    }
  }

  release(instance: CartridgeInstance): void {
    if (instance.dead || this.idle.length >= this.maxIdle) return;
    this.idle.push(instance);
    this.budget.add(instance, this);
  }

  /** Called by the budget: forgets an idle instance it evicted. */
  drop(instance: CartridgeInstance): void {
    const at = this.idle.indexOf(instance);
    if (at >= 0) this.idle.splice(at, 1);
  }

  /** Drops every idle instance (the build is gone), giving their bytes back to the budget. */
  close(): void {
    for (const instance of this.idle.splice(0)) this.budget.remove(instance);
  }

  /** Runs `use` with an instance and releases it afterwards, even when `use` throws. */
  with<T>(use: (instance: CartridgeInstance) => T): T {
    const instance = this.acquire();
    try {
      return use(instance);
    } finally {
      this.release(instance);
    }
  }

  get idleCount(): number {
    return this.idle.length;
  }
}
