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
    this.created++;
    return new CartridgeInstance(this.cartridge);
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
