import type { CartridgeInstance } from "./instance.js";

/** Most bytes of linear memory idle instances may hold on one thread, by default (256 MiB). */
export const DEFAULT_MAX_IDLE_INSTANCE_BYTES = 256 * 1024 * 1024;

/** What an `IdleInstances` evicts from: the pool that keeps the instance. */
export interface IdleOwner {
  /** Forgets an idle instance the budget evicted (it is left for the collector). */
  drop(instance: CartridgeInstance): void;
}

/**
 * The idle instances of every pool of one thread (the registry's, or a worker's), bounded by the
 * bytes of linear memory they hold: a pool keeps a few idle instances per build, and with many
 * builds of large-memory cartridges (up to 16 MiB each) the count alone bounds nothing. Beyond
 * `maxBytes`, the instance idle longest is evicted from its pool, whatever its build.
 */
export class IdleInstances {
  /** Idle instances, least recently released first (a Map iterates in insertion order). */
  private readonly entries = new Map<CartridgeInstance, { owner: IdleOwner; bytes: number }>();
  private heldBytes = 0;
  /** Instances evicted to stay under the cap (for tests and metrics). */
  evicted = 0;

  constructor(readonly maxBytes: number = DEFAULT_MAX_IDLE_INSTANCE_BYTES) {
    if (!Number.isInteger(maxBytes) || maxBytes < 0) {
      throw new RangeError(`maxBytes must be a non-negative integer, got ${maxBytes}`);
    }
  }

  /** Bytes of linear memory the idle instances hold now. */
  get bytes(): number {
    return this.heldBytes;
  }

  /**
   * Records `instance` going idle in `owner`'s pool, then evicts the instances idle longest
   * until the total fits (possibly `instance` itself, when it alone is larger than the cap).
   */
  add(instance: CartridgeInstance, owner: IdleOwner): void {
    const bytes = instance.memory.byteLength;
    this.entries.set(instance, { owner, bytes });
    this.heldBytes += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.heldBytes <= this.maxBytes) break;
      this.remove(oldest);
      entry.owner.drop(oldest);
      this.evicted += 1;
    }
  }

  /** Forgets an instance that is no longer idle (taken again, or its pool closed). */
  remove(instance: CartridgeInstance): void {
    const entry = this.entries.get(instance);
    if (entry === undefined) return;
    this.entries.delete(instance);
    this.heldBytes -= entry.bytes;
  }
}
