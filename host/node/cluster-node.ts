import { randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { type ClusterConfig, quorumSize } from "../consensus/core/config.js";
import type { EngineStats, ReplicaDriver } from "../consensus/engine/driver.js";
import { MultiPaxosEngine } from "../consensus/engine/multi-paxos-engine.js";
import { seededRng } from "../consensus/engine/rng.js";
import { SingleNodeEngine } from "../consensus/engine/single-node-engine.js";
import { IntervalTickSource } from "../consensus/engine/tick-source.js";
import type { StateMachine } from "../consensus/statemachine.js";
import { MemoryStorage } from "../consensus/storage/memory.js";
import type { ConsensusStorage } from "../consensus/storage/storage.js";
import { WalStorage } from "../consensus/storage/wal/wal-storage.js";
import { TcpTransport } from "../consensus/transport/tcp/tcp-transport.js";
import {
  type MutualTlsFiles,
  mutualTlsConnector,
} from "../consensus/transport/tcp/tls-connector.js";
import type { ClusterMetrics, PeerTraffic } from "../server/cluster-metrics.js";
import type { ClusterNode, ClusterStatusView, MemberView } from "../server/cluster-service.js";
import type { NodeConfig } from "./config.js";
import { ObservedTransport } from "./peer-observer.js";

/** Splits "host:port" (an IPv6 host in brackets). */
function splitHostPort(value: string): { host: string; port: number } {
  const colon = value.lastIndexOf(":");
  const host = value.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return { host, port: Number(value.slice(colon + 1)) };
}

function grpcAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * One replica of the console: the consensus engine the config names (Multi-Paxos over TCP, or the
 * single-node engine), its storage (WAL or memory), and the console state machine. Implements what
 * the Cluster service needs ({@link ClusterNode}).
 */
export class ConsoleReplica implements ClusterNode {
  readonly engine: ReplicaDriver;
  private readonly clusterConfig: ClusterConfig;
  private readonly storage: ConsensusStorage;
  private readonly transport: ObservedTransport | undefined;
  private readonly tcp: TcpTransport | undefined;
  private readonly electionTimeoutMs: number;
  private metrics: ClusterMetrics | undefined;
  private lastLeader: string | undefined;
  private leaderChangeCount = 0;

  private constructor(
    private readonly config: NodeConfig,
    /** This node's own gRPC address (for a node without endpoints). */
    private readonly ownAddress: () => string,
    logger: Logger,
    stateMachine: StateMachine,
    onWalAppend: (durationMs: number) => void,
  ) {
    this.clusterConfig = {
      members: config.members.map((id) => ({ nodeId: id, replicaId: Number(id) })),
    };
    this.storage =
      config.storage.type === "wal"
        ? new WalStorage({
            dir: config.storage.walPath,
            observer: { appended: (_bytes, durationMs) => onWalAppend(durationMs) },
          })
        : new MemoryStorage();
    this.electionTimeoutMs = config.electionTimeoutTicks * config.tickIntervalMs;
    const common = {
      nodeId: config.nodeId,
      storage: this.storage,
      stateMachine,
      snapshotIntervalSlots: config.snapshotIntervalSlots,
      proposalTimeoutTicks: config.proposalTimeoutTicks,
      maxOutstandingProposals: config.maxOutstandingProposals,
      tickSource: new IntervalTickSource(config.tickIntervalMs),
    };
    if (config.engine === "single" || config.members.length === 1) {
      this.engine = new SingleNodeEngine({ ...common, maxBatchCommands: config.maxBatchCommands });
      return;
    }
    const selfId = Number(config.nodeId);
    const peers = new Map<number, { host: string; port: number }>();
    for (const [id, endpoint] of config.endpoints) {
      if (id !== config.nodeId) {
        peers.set(Number(id), { host: endpoint.host, port: endpoint.consensusPort });
      }
    }
    if (config.transport.type !== "tcp") {
      throw new Error("a multi-member Paxos node needs a tcp transport");
    }
    this.tcp = new TcpTransport({
      clusterId: config.clusterId,
      replicaId: selfId,
      config: this.clusterConfig,
      listen: splitHostPort(config.transport.bind),
      peers,
      rng: seededRng(randomInt(2 ** 31)),
      logger: logger.child({ component: "transport" }),
      ...(config.consensusTls === undefined
        ? {}
        : { connector: mutualTlsConnector(readTlsFiles(config.consensusTls)) }),
    });
    this.transport = new ObservedTransport(this.tcp);
    this.engine = new MultiPaxosEngine({
      ...common,
      config: this.clusterConfig,
      transport: this.transport,
      // Election jitter only; a fresh seed per start keeps restarted replicas from lockstep.
      rng: seededRng(randomInt(2 ** 31)),
      coreOptions: {
        electionTimeoutTicks: config.electionTimeoutTicks,
        heartbeatIntervalTicks: config.heartbeatIntervalTicks,
        maxBatchCommands: config.maxBatchCommands,
      },
      retainSlots: config.retainSlots,
    });
  }

  /** Opens storage, starts listening for peers and starts the engine. */
  static async start(
    config: NodeConfig,
    ownAddress: () => string,
    logger: Logger,
    /** The console state machine (`createConsoleMachine` in host/replication assembles it). */
    stateMachine: StateMachine,
    onWalAppend: (durationMs: number) => void = () => {},
  ): Promise<ConsoleReplica> {
    const replica = new ConsoleReplica(config, ownAddress, logger, stateMachine, onWalAppend);
    await replica.tcp?.start();
    await replica.engine.start();
    return replica;
  }

  /** Connects the metrics (made after the server, which owns the registry). */
  attachMetrics(metrics: ClusterMetrics): void {
    this.metrics = metrics;
  }

  /** Stops the engine, the transport and the storage (in that order). */
  async stop(): Promise<void> {
    await this.engine.stop();
    this.transport?.close();
    if (this.storage instanceof WalStorage) await this.storage.close();
  }

  isLeader(): boolean {
    return this.engine.isLeader();
  }

  async propose(
    command: Uint8Array,
    ids: { readonly clientId: string; readonly requestId: number },
  ): Promise<{ index: number; result: Uint8Array }> {
    const { index, result } = await this.engine.propose(command, ids);
    return { index, result };
  }

  onProposalOutcome(outcome: string): void {
    this.metrics?.proposals.inc({ outcome });
  }

  /** Notes a leader change (called on every status poll). */
  private noteLeader(leaderId: string | undefined): void {
    if (leaderId !== undefined && leaderId !== this.lastLeader) {
      if (this.lastLeader !== undefined) {
        this.leaderChangeCount += 1;
        this.metrics?.leaderChanges.inc();
      }
      this.lastLeader = leaderId;
    }
  }

  private addressOf(nodeId: string): string | undefined {
    const endpoint = this.config.endpoints.get(nodeId);
    if (endpoint !== undefined) return grpcAddress(endpoint.host, endpoint.grpcPort);
    return nodeId === this.config.nodeId ? this.ownAddress() : undefined;
  }

  status(): ClusterStatusView {
    const core = this.engine.status();
    const halted = this.engine.haltReason() !== undefined;
    const leaderId = halted ? undefined : this.engine.leaderId();
    this.noteLeader(leaderId);
    const now = performance.now();
    const commitIndex = core?.commitIndex ?? 0;
    const members: MemberView[] = this.clusterConfig.members.map((member) => {
      const isSelf = member.nodeId === this.config.nodeId;
      const contact = this.transport?.contact(member.replicaId);
      const lastHeardMs = isSelf || contact === undefined ? 0 : now - contact.atMs;
      const memberCommit = isSelf ? commitIndex : (contact?.commitIndex ?? 0);
      return {
        nodeId: member.nodeId,
        grpcAddress: this.addressOf(member.nodeId) ?? "",
        isSelf,
        isLeader: member.nodeId === leaderId,
        reachable: isSelf || (contact !== undefined && lastHeardMs <= this.electionTimeoutMs),
        lastHeardMs,
        commitIndex: memberCommit,
        behindSlots: Math.max(0, commitIndex - memberCommit),
      };
    });
    const reachable = members.filter((member) => member.reachable).length;
    const role = halted || core === undefined ? "stopped" : core.role;
    const inQuorum =
      !halted &&
      ((role === "leader" && reachable >= quorumSize(this.clusterConfig)) ||
        (role === "follower" &&
          members.some((member) => member.isLeader && member.reachable && !member.isSelf)));
    return {
      nodeId: this.config.nodeId,
      engine: this.config.engine,
      role: role === "preCandidate" ? "candidate" : role,
      leaderId,
      leaderAddress: leaderId === undefined ? undefined : this.addressOf(leaderId),
      ballot: core?.promisedBallot ?? 0,
      commitIndex,
      appliedIndex: this.engine.lastAppliedIndex(),
      inQuorum,
      members,
      leaderChanges: this.leaderChangeCount,
    };
  }

  /** The consensus engine's counters, for the metrics. */
  engineStats(): EngineStats {
    return this.engine.stats();
  }

  /** Per-peer traffic, for the metrics. */
  peerTraffic(): PeerTraffic[] {
    if (this.tcp === undefined) return [];
    return Object.entries(this.tcp.stats().peers).map(([peer, stats]) => ({
      peer,
      bytesSent: stats.bytesSent,
      framesSent: stats.framesSent,
      bytesReceived: stats.bytesReceived,
      framesReceived: stats.framesReceived,
    }));
  }
}

/** The consensus TLS files, read once at start (a node cannot run without them). */
function readTlsFiles(files: { ca: string; cert: string; key: string }): MutualTlsFiles {
  const read = (file: string, key: string): Uint8Array => {
    try {
      return readFileSync(file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "error";
      throw new Error(`consensus.tls.${key} ${file}: cannot read (${code})`);
    }
  };
  return { ca: read(files.ca, "ca"), cert: read(files.cert, "cert"), key: read(files.key, "key") };
}
