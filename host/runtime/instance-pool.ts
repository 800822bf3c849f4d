import { CallError } from "./errors.js";
import { CartridgeInstance } from "./instance.js";
import type { LoadedCartridge } from "./loader.js";

/**
 * Idle instances of one build, reused across calls. A dead instance (one that trapped) is never
 * returned to the pool, so the next `acquire` instantiates a fresh one from the same module.
 */
export class InstancePool {
  private readonly idle: CartridgeInstance[] = [];
  /** Instances created over the pool's life, for tests and metrics. */
  created = 0;

  constructor(
    readonly cartridge: LoadedCartridge,
    /** Most idle instances kept; extra released ones are dropped for the collector. */
    readonly maxIdle = 4,
  ) {}

  acquire(): CartridgeInstance {
    const instance = this.idle.pop();
    if (instance !== undefined) return instance;
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
