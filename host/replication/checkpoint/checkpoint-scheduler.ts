import type { ConsensusEngine } from "../../consensus/engine/engine.js";
import type { CheckpointPart } from "./checkpoint-part.js";

/** What the scheduler needs of the consensus engine. */
export type CheckpointEngine = Pick<ConsensusEngine, "isLeader" | "lastAppliedIndex" | "propose">;

/** Default slots between two checkpoints. */
export const DEFAULT_CHECKPOINT_INTERVAL_SLOTS = 1000;

/**
 * Proposes checkpoints from the leader: on each `tick`, when this node leads and at least
 * `intervalSlots` slots were applied since the slot of its last checkpoint, it proposes one for
 * its last completely applied slot. Followers never propose. A proposal that fails (leadership
 * lost, timeout) is dropped: the next tick tries again. The timer that calls `tick` lives with
 * the caller (`start`/`stop` wrap a plain interval); nothing here runs inside apply.
 */
export class CheckpointScheduler {
  private lastSlot = 0;
  private inFlight = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly intervalSlots: number;

  constructor(
    private readonly engine: CheckpointEngine,
    private readonly part: CheckpointPart,
    options: { readonly intervalSlots?: number } = {},
  ) {
    this.intervalSlots = Math.max(1, options.intervalSlots ?? DEFAULT_CHECKPOINT_INTERVAL_SLOTS);
  }

  /** Proposes a checkpoint if due; resolves true once one was committed. */
  async tick(): Promise<boolean> {
    if (this.inFlight || !this.engine.isLeader()) return false;
    const slot = this.engine.lastAppliedIndex() - 1;
    if (slot - this.lastSlot < this.intervalSlots) return false;
    const command = this.part.checkpointCommand(slot);
    if (command === undefined) return false;
    this.inFlight = true;
    try {
      await this.engine.propose(command);
      this.lastSlot = slot;
      return true;
    } catch {
      return false;
    } finally {
      this.inFlight = false;
    }
  }

  /** Calls `tick` every `everyMs` until `stop`. */
  start(everyMs: number): void {
    this.stop();
    this.timer = setInterval(() => void this.tick(), everyMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
