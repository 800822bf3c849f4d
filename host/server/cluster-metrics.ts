import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { REJECT_REASONS } from "../consensus/core/stats.js";
import type { EngineStats } from "../consensus/engine/driver.js";

/** Per-peer transport counters, as the TCP transport reports them. */
export interface PeerTraffic {
  readonly peer: string;
  readonly bytesSent: number;
  readonly framesSent: number;
  readonly bytesReceived: number;
  readonly framesReceived: number;
}

/** What the cluster metrics read at scrape time. */
export interface ClusterMetricsSource {
  ballot(): number;
  commitIndex(): number;
  appliedIndex(): number;
  inQuorum(): boolean;
  peers(): readonly PeerTraffic[];
  /** The consensus engine's counters (they only grow while the node runs). */
  engineStats(): EngineStats;
  /** The divergence detector (the checkpoint part); absent on a node without one. */
  checkpoints?(): CheckpointCounts;
}

/** What the divergence detector has seen since the process started. */
export interface CheckpointCounts {
  /** Checkpoints compared with this replica's own hash, and equal. */
  readonly verified: number;
  /** Checkpoints naming a slot older than the window of recent hashes (nothing compared). */
  readonly unverifiable: number;
  /** True once a checkpoint did not match: the replica halted. */
  readonly diverged: boolean;
}

/**
 * A node's consensus metrics, in the server's registry. Gauges and per-peer counters are read from
 * the node when Prometheus scrapes; events (leader changes, proposal outcomes, WAL appends) are
 * counted as they happen.
 */
export class ClusterMetrics {
  readonly leaderChanges: Counter;
  readonly proposals: Counter<"outcome">;
  readonly walFsyncSeconds: Histogram;

  constructor(registry: Registry, source: ClusterMetricsSource) {
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(read());
        },
      });
    gauge("cartridge_consensus_ballot", "Highest ballot this node promised.", () =>
      source.ballot(),
    );
    gauge("cartridge_consensus_commit_index", "Highest slot known chosen.", () =>
      source.commitIndex(),
    );
    gauge("cartridge_consensus_applied_index", "Highest slot applied.", () =>
      source.appliedIndex(),
    );
    gauge("cartridge_consensus_in_quorum", "1 when this node is part of a working quorum.", () =>
      source.inQuorum() ? 1 : 0,
    );
    this.leaderChanges = new Counter({
      name: "cartridge_consensus_leader_changes_total",
      help: "Leader changes this node has seen.",
      registers: [registry],
    });
    this.proposals = new Counter({
      name: "cartridge_consensus_proposals_total",
      help: 'Proposals made on this node by outcome ("ok" or the consensus error code).',
      labelNames: ["outcome"] as const,
      registers: [registry],
    });
    this.walFsyncSeconds = new Histogram({
      name: "cartridge_wal_fsync_seconds",
      help: "Time of one WAL append: write plus fdatasync of one batch.",
      buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
      registers: [registry],
    });
    const peerCounter = (name: string, help: string, read: (p: PeerTraffic) => number) =>
      new Counter({
        name,
        help,
        labelNames: ["peer"] as const,
        registers: [registry],
        collect() {
          this.reset();
          for (const peer of source.peers()) this.inc({ peer: peer.peer }, read(peer));
        },
      });
    const engineCounter = (name: string, help: string, read: (s: EngineStats) => number) =>
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(read(source.engineStats()));
        },
      });
    new Counter({
      name: "cartridge_consensus_rejected_messages_total",
      help: "Consensus messages refused at the core's boundary before changing state, by reason.",
      labelNames: ["reason"] as const,
      registers: [registry],
      collect() {
        this.reset();
        const rejected = source.engineStats().core.rejectedMessages;
        for (const reason of REJECT_REASONS) this.inc({ reason }, rejected[reason]);
      },
    });
    engineCounter(
      "cartridge_consensus_dropped_messages_total",
      "Consensus messages dropped because the engine's inbound buffer was full.",
      (s) => s.droppedMessages,
    );
    engineCounter(
      "cartridge_consensus_snapshot_chunks_sent_total",
      "Snapshot chunks sent to peers, retransmissions included.",
      (s) => s.core.snapshotChunksSent,
    );
    engineCounter(
      "cartridge_consensus_snapshot_chunks_retransmitted_total",
      "Snapshot chunks sent again because no acknowledgement came in time.",
      (s) => s.core.snapshotChunksRetransmitted,
    );
    engineCounter(
      "cartridge_consensus_snapshots_installed_total",
      "Snapshots received from peers, verified and installed.",
      (s) => s.core.snapshotsInstalled,
    );
    engineCounter(
      "cartridge_consensus_snapshots_corrupt_total",
      "Reassembled snapshots discarded because their checksum did not match.",
      (s) => s.core.snapshotsCorrupt,
    );
    peerCounter("cartridge_peer_bytes_sent_total", "Bytes sent to each peer.", (p) => p.bytesSent);
    peerCounter(
      "cartridge_peer_frames_sent_total",
      "Frames sent to each peer.",
      (p) => p.framesSent,
    );
    peerCounter(
      "cartridge_peer_bytes_received_total",
      "Bytes received from each peer.",
      (p) => p.bytesReceived,
    );
    peerCounter(
      "cartridge_peer_frames_received_total",
      "Frames received from each peer.",
      (p) => p.framesReceived,
    );
    const checkpoints = source.checkpoints?.bind(source);
    if (checkpoints === undefined) return;
    gauge(
      "cartridge_replica_diverged",
      "1 once a checkpoint found this replica's history different from the leader's (it halted).",
      () => (checkpoints().diverged ? 1 : 0),
    );
    new Counter({
      name: "cartridge_checkpoints_total",
      help: 'Checkpoints this replica applied, by outcome ("verified": its hash matched; "unverifiable": the slot was older than its window).',
      labelNames: ["outcome"] as const,
      registers: [registry],
      collect() {
        this.reset();
        const counts = checkpoints();
        this.inc({ outcome: "verified" }, counts.verified);
        this.inc({ outcome: "unverifiable" }, counts.unverifiable);
      },
    });
  }
}
