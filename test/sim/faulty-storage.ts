import type { Snapshot } from "../../host/consensus/core/entry.js";
import { MemoryStorage } from "../../host/consensus/storage/memory.js";
import type {
  ConsensusStorage,
  PersistBatch,
  PersistedState,
} from "../../host/consensus/storage/storage.js";

/** Thrown by {@link FaultyStorage} to simulate the process dying mid-Ready. */
export class SimulatedCrash extends Error {
  override readonly name = "SimulatedCrash";
}

/** When an armed storage makes its replica crash. */
export type CrashPoint = "beforePersist" | "afterPersist";

/**
 * Memory storage that can be armed to crash its replica on the next write: before it (the
 * Ready is lost: nothing persisted, nothing sent) or after it (persisted, nothing sent). The
 * persisted state survives the crash, exactly as a disk would.
 */
export class FaultyStorage implements ConsensusStorage {
  private readonly inner = new MemoryStorage();
  private armed: CrashPoint | undefined;

  arm(point: CrashPoint): void {
    this.armed = point;
  }

  disarm(): void {
    this.armed = undefined;
  }

  load(): PersistedState {
    return this.inner.load();
  }

  persist(batch: PersistBatch): void {
    const armed = this.armed;
    if (armed === "beforePersist") {
      this.armed = undefined;
      throw new SimulatedCrash("crash before persist");
    }
    this.inner.persist(batch);
    if (armed === "afterPersist") {
      this.armed = undefined;
      throw new SimulatedCrash("crash after persist, before send");
    }
  }

  compact(snapshot: Snapshot, compactThroughIndex: number): void {
    this.inner.compact(snapshot, compactThroughIndex);
  }
}
