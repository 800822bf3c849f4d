import { BALLOT_REPLICA_SPACE } from "./ballot.js";
import { ConsensusError } from "./errors.js";

/** One member of the cluster: a stable string node id mapped to a numeric replica id. */
export interface Member {
  readonly nodeId: string;
  readonly replicaId: number;
}

/** The static membership of a cluster. Membership changes are not implemented yet. */
export interface ClusterConfig {
  readonly members: readonly Member[];
}

/** Tunables of the consensus core. Every queue and message has a limit. */
export interface CoreOptions {
  /** A follower starts a pre-vote after hearing nothing for between 1x and 2x this many ticks. */
  readonly electionTimeoutTicks: number;
  /** The leader sends heartbeats (and retransmits unacknowledged slots) this often. */
  readonly heartbeatIntervalTicks: number;
  /** Slots beyond the commit index a leader may have in flight (the pipelining window). */
  readonly windowSlots: number;
  /** Most commands batched into one slot; 1 disables batching. */
  readonly maxBatchCommands: number;
  /** Most payload bytes batched into one slot. */
  readonly maxBatchBytes: number;
  /** Most entries in one accept, promise or learn message. */
  readonly maxEntriesPerMessage: number;
  /** Most bytes of entries in one accept, promise or learn message. */
  readonly maxMessageBytes: number;
  /** Most proposals queued at the leader waiting for a slot. */
  readonly maxPendingCommands: number;
  /** Most committed entries handed to the state machine in one Ready. */
  readonly maxCommittedPerReady: number;
  /** Most snapshot bytes in one `installSnapshot` chunk; at most `maxMessageBytes`. */
  readonly snapshotChunkBytes: number;
  /** Largest snapshot a replica reassembles from chunks; larger transfers are refused. */
  readonly maxSnapshotBytes: number;
  /** An unacknowledged snapshot chunk is sent again after this many ticks. */
  readonly snapshotRetransmitTicks: number;
}

/** Defaults suited to a LAN cluster ticking every 10 ms. */
export const DEFAULT_CORE_OPTIONS: CoreOptions = {
  electionTimeoutTicks: 20,
  heartbeatIntervalTicks: 2,
  windowSlots: 256,
  maxBatchCommands: 1024,
  maxBatchBytes: 1 << 20,
  maxEntriesPerMessage: 64,
  maxMessageBytes: 4 << 20,
  maxPendingCommands: 65_536,
  maxCommittedPerReady: 1024,
  snapshotChunkBytes: 256 << 10,
  maxSnapshotBytes: 1 << 30,
  snapshotRetransmitTicks: 10,
};

/** The number of acceptors whose agreement makes a quorum. */
export function quorumSize(config: ClusterConfig): number {
  return Math.floor(config.members.length / 2) + 1;
}

/** Finds the member with `replicaId`, if any. */
export function memberByReplicaId(config: ClusterConfig, replicaId: number): Member | undefined {
  return config.members.find((member) => member.replicaId === replicaId);
}

/** Finds the member with `nodeId`, if any. */
export function memberByNodeId(config: ClusterConfig, nodeId: string): Member | undefined {
  return config.members.find((member) => member.nodeId === nodeId);
}

/** Throws `InvalidArgument` unless the config and options are usable. */
export function validateConfig(config: ClusterConfig, options: CoreOptions): void {
  const fail = (message: string): never => {
    throw new ConsensusError("InvalidArgument", message);
  };
  if (config.members.length < 1 || config.members.length > 15) {
    fail(`cluster must have 1..15 members, got ${config.members.length}`);
  }
  const replicaIds = new Set<number>();
  const nodeIds = new Set<string>();
  for (const member of config.members) {
    if (!Number.isInteger(member.replicaId) || member.replicaId < 1) {
      fail(`replica id ${member.replicaId} must be a positive integer`);
    }
    if (member.replicaId >= BALLOT_REPLICA_SPACE) {
      fail(`replica id ${member.replicaId} must be below ${BALLOT_REPLICA_SPACE}`);
    }
    if (member.nodeId.length === 0) {
      fail("node id must not be empty");
    }
    replicaIds.add(member.replicaId);
    nodeIds.add(member.nodeId);
  }
  if (replicaIds.size !== config.members.length || nodeIds.size !== config.members.length) {
    fail("node ids and replica ids must be unique");
  }
  const positive: (keyof CoreOptions)[] = [
    "electionTimeoutTicks",
    "heartbeatIntervalTicks",
    "windowSlots",
    "maxBatchCommands",
    "maxBatchBytes",
    "maxEntriesPerMessage",
    "maxMessageBytes",
    "maxPendingCommands",
    "maxCommittedPerReady",
    "snapshotChunkBytes",
    "maxSnapshotBytes",
    "snapshotRetransmitTicks",
  ];
  for (const key of positive) {
    const value = options[key];
    if (!Number.isSafeInteger(value) || value < 1) {
      fail(`${key} must be a positive integer, got ${value}`);
    }
  }
  if (options.heartbeatIntervalTicks >= options.electionTimeoutTicks) {
    fail("heartbeatIntervalTicks must be smaller than electionTimeoutTicks");
  }
  // A slot is never split across messages, so one full batch must fit in one message; receivers
  // refuse messages beyond these limits, so every replica of a cluster must use the same ones.
  if (options.maxBatchBytes > options.maxMessageBytes) {
    fail("maxBatchBytes must not exceed maxMessageBytes");
  }
  if (options.snapshotChunkBytes > options.maxMessageBytes) {
    fail("snapshotChunkBytes must not exceed maxMessageBytes");
  }
}
