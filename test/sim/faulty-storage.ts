import type { Snapshot } from "../../host/consensus/core/entry.js";
import { ConsensusError } from "../../host/consensus/core/errors.js";
import { MemoryStore } from "../../host/consensus/storage/memory.js";
import type {
  ConsensusStorage,
  PersistBatch,
  PersistedState,
} from "../../host/consensus/storage/storage.js";
import { SimRandom } from "./random.js";

/** When an armed storage makes its replica crash. */
export type CrashPoint = "beforePersist" | "afterPersist";

/** How one simulated disk misbehaves; drawn per seed and node. */
export interface DiskProfile {
  /** Ticks a write takes to become durable (0: within the tick it was issued). */
  readonly writeLatencyTicks: number;
  /** Whether a crash during a write leaves a torn record (detected and dropped at load). */
  readonly tornWrites: boolean;
  /** Chance per write that it fails with `StorageFailure` (it may or may not reach the disk). */
  readonly failureRate: number;
  /** The tick at which a durable record rots (a checksum mismatch found at the next load). */
  readonly corruptAtTick: number | undefined;
  /** Chance per tick, while a write is in flight, that the process dies (a power cut). */
  readonly crashDuringWriteRate: number;
}

/** A disk that never misbehaves and completes every write within the tick. */
export const PERFECT_DISK: DiskProfile = {
  writeLatencyTicks: 0,
  tornWrites: false,
  failureRate: 0,
  corruptAtTick: undefined,
  crashDuringWriteRate: 0,
};

/** Counts of the faults one disk injected. */
export interface DiskFaultEvents {
  tornWrites: number;
  lostWrites: number;
  /** Crashes while a write was in flight (the write is then lost or torn). */
  crashesDuringWrite: number;
  failures: number;
  corruptions: number;
  /** Loads that refused a corrupted record (the replica did not start). */
  refusedLoads: number;
}

type Operation =
  | { readonly kind: "persist"; readonly batch: PersistBatch }
  | { readonly kind: "compact"; readonly snapshot: Snapshot; readonly throughIndex: number };

interface DurableRecord {
  readonly operation: Operation;
  /** False once the record rotted on disk. */
  intact: boolean;
  /** True for a record a crash interrupted: only its first bytes reached the disk. */
  readonly torn: boolean;
}

interface PendingWrite {
  readonly operation: Operation;
  readonly dueTick: number;
  readonly fails: boolean;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** Records kept individually (and so corruptible) before they are folded into the base. */
const RECENT_RECORDS = 8;

/**
 * The simulator's disk for one replica. It keeps the replica's durable state as a base plus a
 * short log of recent records, the way a WAL does, and injects what real disks do:
 *
 * - write latency: a write becomes durable, and its promise resolves, only when the simulator
 *   calls `advance(now)` at or after its due tick; a crash before that loses it;
 * - torn writes: a crash during a write may leave a partial last record, which `load()` detects
 *   and drops (a torn tail is the one thing recovery may drop silently);
 * - corruption: a durable record rots; `load()` detects the checksum mismatch and rejects with
 *   `StorageFailure`, so the replica must refuse to start rather than use it (`repair()` stands
 *   for an operator restoring the disk);
 * - `StorageFailure`: a write rejects (an EIO or a full disk), having reached the disk or not.
 *
 * It also asserts the storage contract from the caller's side: one call in flight at a time.
 * Everything is driven by the simulator's clock and a seeded stream, so runs replay exactly.
 */
export class FaultyStorage implements ConsensusStorage {
  private base = new MemoryStore();
  private records: DurableRecord[] = [];
  /** The base with every complete record applied: what an intact disk holds. */
  private readonly current = new MemoryStore();
  private pending: PendingWrite | undefined;
  private armed: CrashPoint | undefined;
  private faultsEnabled = true;
  private corrupted = false;
  private profile: DiskProfile;
  /** The last tick a power cut was drawn for (one draw per tick). */
  private lastCrashCheckTick = -1;
  private readonly random: SimRandom;
  private readonly now: () => number;
  /** Called when the disk decides its process dies (an armed crash point was reached). */
  onCrash: () => void = () => {};
  readonly events: DiskFaultEvents = {
    tornWrites: 0,
    lostWrites: 0,
    crashesDuringWrite: 0,
    failures: 0,
    corruptions: 0,
    refusedLoads: 0,
  };

  constructor(now: () => number, seed: number, profile: DiskProfile = PERFECT_DISK) {
    this.now = now;
    this.random = new SimRandom(seed);
    this.profile = profile;
  }

  /** Makes the replica crash on its next write, before it reaches the disk or right after. */
  arm(point: CrashPoint): void {
    this.armed = point;
  }

  /** Forgets an armed crash point (a restarted process). */
  clearCrashPoint(): void {
    this.armed = undefined;
  }

  /** Stops injecting faults and repairs a rotted record (the healing phase of a run). */
  disarm(): void {
    this.armed = undefined;
    this.faultsEnabled = false;
    this.profile = {
      ...this.profile,
      failureRate: 0,
      corruptAtTick: undefined,
      crashDuringWriteRate: 0,
    };
    if (this.pending?.fails === true) {
      // The write in flight was drawn to fail; healing means it succeeds after all.
      this.pending = { ...this.pending, fails: false };
    }
    this.repair();
  }

  /** An operator restored the rotted record from a good copy. */
  repair(): void {
    this.corrupted = false;
    for (const record of this.records) {
      record.intact = true;
    }
  }

  /** Whether a rotted record is on the disk (a replica must not run on it). */
  isCorrupted(): boolean {
    return this.corrupted;
  }

  /** The index of the snapshot a load would return (0 without one), ignoring rot. */
  durableSnapshotIndex(): number {
    return this.current.load().snapshot?.index ?? 0;
  }

  /** Whether a write is in flight. */
  writing(): boolean {
    return this.pending !== undefined;
  }

  async load(): Promise<PersistedState> {
    this.checkIdle("load");
    const store = this.base.clone();
    for (const [position, record] of this.records.entries()) {
      if (record.torn) {
        // Only the last record can be torn: a crash ends the process's writes.
        if (position !== this.records.length - 1) {
          throw new Error("a torn record followed by another record");
        }
        break;
      }
      if (!record.intact) {
        this.events.refusedLoads += 1;
        throw new ConsensusError(
          "StorageFailure",
          `checksum mismatch in record ${position + 1} of ${this.records.length}: refusing to load`,
        );
      }
      applyTo(store, record.operation);
    }
    return store.load();
  }

  persist(batch: PersistBatch): Promise<void> {
    return this.write({ kind: "persist", batch });
  }

  compact(snapshot: Snapshot, compactThroughIndex: number): Promise<void> {
    return this.write({ kind: "compact", snapshot, throughIndex: compactThroughIndex });
  }

  async close(): Promise<void> {}

  /** The process died: a write in flight is lost or, on a disk that tears, left torn. */
  crash(): void {
    const pending = this.pending;
    this.pending = undefined;
    this.armed = undefined;
    if (pending === undefined) {
      return;
    }
    if (this.profile.tornWrites && this.random.chance(0.5)) {
      this.events.tornWrites += 1;
      this.dropTornTail();
      this.records.push({ operation: pending.operation, intact: true, torn: true });
    } else {
      this.events.lostWrites += 1;
    }
  }

  /**
   * Completes the write in flight if it is due and rots a record when the profile says so.
   * Returns whether a write completed (its promise settled).
   */
  advance(now: number): boolean {
    const corruptAt = this.profile.corruptAtTick;
    if (this.faultsEnabled && corruptAt !== undefined && now >= corruptAt) {
      this.profile = { ...this.profile, corruptAtTick: undefined };
      if (this.rot()) {
        // Rot is found when the replica next reads its disk: make that happen now.
        this.onCrash();
      }
    }
    const pending = this.pending;
    if (pending === undefined) {
      return false;
    }
    if (
      this.faultsEnabled &&
      this.lastCrashCheckTick < now &&
      this.random.chance(this.profile.crashDuringWriteRate)
    ) {
      this.events.crashesDuringWrite += 1;
      this.onCrash();
      return false;
    }
    this.lastCrashCheckTick = now;
    if (pending.dueTick > now) {
      return false;
    }
    this.pending = undefined;
    if (!pending.fails) {
      try {
        this.makeDurable(pending.operation);
      } catch (error) {
        pending.reject(error instanceof Error ? error : new Error(String(error)));
        return true;
      }
      if (this.armed === "afterPersist") {
        this.armed = undefined;
        this.onCrash();
        return true;
      }
      pending.resolve();
      return true;
    }
    this.events.failures += 1;
    // A failed write may or may not have reached the disk; the replica must cope with both.
    if (this.random.chance(0.5)) {
      try {
        this.makeDurable(pending.operation);
      } catch {
        // An invalid batch never reaches the disk; the rejection below reports the failure.
      }
    }
    pending.reject(new ConsensusError("StorageFailure", "simulated I/O error"));
    return true;
  }

  private write(operation: Operation): Promise<void> {
    this.checkIdle(operation.kind);
    if (this.armed === "beforePersist") {
      this.armed = undefined;
      this.events.lostWrites += 1;
      this.onCrash();
      return new Promise<void>(() => {});
    }
    return new Promise<void>((resolve, reject) => {
      const fails = this.faultsEnabled && this.random.chance(this.profile.failureRate);
      this.pending = {
        operation,
        dueTick: this.now() + this.profile.writeLatencyTicks,
        fails,
        resolve,
        reject,
      };
    });
  }

  private makeDurable(operation: Operation): void {
    this.dropTornTail();
    // The store validates before it changes anything: an invalid batch is rejected whole.
    applyTo(this.current, operation);
    this.records.push({ operation, intact: true, torn: false });
    while (this.records.length > RECENT_RECORDS) {
      const oldest = this.records.shift();
      if (oldest !== undefined) {
        applyTo(this.base, oldest.operation);
      }
    }
  }

  private dropTornTail(): void {
    if (this.records.at(-1)?.torn === true) {
      this.records.pop();
    }
  }

  private rot(): boolean {
    const intact = this.records.filter((record) => record.intact && !record.torn);
    if (intact.length === 0) {
      return false;
    }
    this.random.pick(intact).intact = false;
    this.corrupted = true;
    this.events.corruptions += 1;
    return true;
  }

  private checkIdle(call: string): void {
    if (this.pending !== undefined) {
      throw new Error(`storage contract: ${call} called while a write is in flight`);
    }
  }
}

function applyTo(store: MemoryStore, operation: Operation): void {
  if (operation.kind === "persist") {
    store.persist(operation.batch);
  } else {
    store.compact(operation.snapshot, operation.throughIndex);
  }
}
