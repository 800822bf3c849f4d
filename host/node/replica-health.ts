import type { Logger } from "pino";
import type { CheckpointPart } from "../replication/checkpoint/checkpoint-part.js";
import type { ClusterStatusView } from "../server/cluster-service.js";

/** Where health goes: the server's `grpc.health.v1` implementation. */
export interface HealthSetter {
  setStatus(service: string, status: "SERVING" | "NOT_SERVING"): void;
}

/** What the monitor reads of the replica. */
export interface MonitoredReplica {
  status(): Pick<ClusterStatusView, "inQuorum" | "role" | "leaderId" | "ballot">;
  readonly engine: {
    haltReason(): { readonly code: string; readonly message: string } | undefined;
  };
}

/**
 * Keeps the node's health in line with its replica: SERVING while it is in a working quorum,
 * NOT_SERVING when it is cut off from one or halted (a diverged replica, a failed disk), so load
 * balancers and the clients' failover go elsewhere. A halt is logged once with its reason; a
 * divergence found by a checkpoint is logged with both hashes.
 */
export class ReplicaHealth {
  private wasInQuorum: boolean | undefined;
  private haltLogged = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly replica: MonitoredReplica,
    checkpoint: Pick<CheckpointPart, "onDiverged">,
    private readonly health: HealthSetter,
    /** The health entries that follow the replica ("" is the server as a whole). */
    private readonly services: readonly string[],
    private readonly logger: Logger,
  ) {
    this.unsubscribe = checkpoint.onDiverged((error) => {
      logger.error(
        {
          slot: error.slot,
          localHash: error.localHash,
          leaderHash: error.leaderHash,
          checkpointIndex: error.checkpointIndex,
        },
        "this replica's history differs from the leader's at a checkpoint: halted, NOT_SERVING (docs/replication.md)",
      );
    });
  }

  /** Reads the replica once and updates health if it changed. */
  check(): void {
    const view = this.replica.status();
    const halt = this.replica.engine.haltReason();
    if (halt !== undefined && !this.haltLogged) {
      this.haltLogged = true;
      this.logger.error({ code: halt.code, reason: halt.message }, "replica halted; NOT_SERVING");
    }
    const inQuorum = view.inQuorum && halt === undefined;
    if (inQuorum === this.wasInQuorum) return;
    this.wasInQuorum = inQuorum;
    const state = inQuorum ? "SERVING" : "NOT_SERVING";
    for (const service of this.services) this.health.setStatus(service, state);
    this.logger.info(
      { inQuorum, role: view.role, leaderId: view.leaderId, ballot: view.ballot },
      inQuorum ? "in a working quorum" : "not in a working quorum",
    );
  }

  /** Checks every `everyMs` until `stop`. */
  start(everyMs: number): void {
    this.stop();
    this.check();
    this.timer = setInterval(() => this.check(), everyMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  close(): void {
    this.stop();
    this.unsubscribe();
  }
}
