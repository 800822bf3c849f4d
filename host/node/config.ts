import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parse as parseToml } from "smol-toml";
import { z } from "zod";
import { BALLOT_REPLICA_SPACE } from "../consensus/core/ballot.js";
import { DEFAULT_CHECKPOINT_INTERVAL_SLOTS } from "../replication/checkpoint/checkpoint-scheduler.js";

/**
 * The node config (`cartridge serve --config FILE.toml`): which engine, this node's identity, its
 * storage and transport, the cluster's members and where they listen, and the operator settings.
 * Every default is in this file's schema, and nowhere else. Unknown keys are refused, so a typo
 * fails at start instead of being silently ignored. See examples/cluster/ and docs/service.md.
 */

/** A config that cannot be used; the message names the file, the key and what is wrong. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const port = z.number().int().min(1).max(65_535);
const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/, 'expected "host:port"')
  .refine((value) => Number(value.slice(value.lastIndexOf(":") + 1)) <= 65_535, "port too large");
const positive = z.number().int().positive();

/** Node ids are decimal replica ids, so that ballots (round * 1024 + replica id) stay unique. */
const nodeId = z
  .string()
  .regex(/^[1-9][0-9]*$/, "node ids are decimal numbers 1, 2, 3, ...")
  .refine(
    (id) => Number(id) < BALLOT_REPLICA_SPACE,
    `node ids must be below ${BALLOT_REPLICA_SPACE}`,
  );

const endpoint = z
  .object({
    host: z.string().min(1),
    consensus_port: port,
    grpc_port: port,
  })
  .strict();

const storage = z.discriminatedUnion("type", [
  z.object({ type: z.literal("wal"), wal_path: z.string().min(1) }).strict(),
  z.object({ type: z.literal("memory") }).strict(),
]);

const transport = z.discriminatedUnion("type", [
  z.object({ type: z.literal("tcp"), bind: hostPort }).strict(),
  z.object({ type: z.literal("memory") }).strict(),
]);

const consensus = z
  .object({
    engine: z.enum(["paxos", "single"]),
    replica_id: nodeId,
    /** Names the cluster; peers of another cluster are refused at the TCP handshake. */
    cluster_id: z.string().min(1).max(64).default("cartridge"),
    storage: storage.default({ type: "memory" }),
    transport: transport.default({ type: "memory" }),
    /** One consensus tick; election and heartbeat are counted in ticks. */
    tick_interval_ms: positive.max(1000).default(10),
    election_timeout_ticks: positive.default(30),
    heartbeat_interval_ticks: positive.default(3),
    /** A proposal not committed within this many ticks fails with Timeout (outcome unknown). */
    proposal_timeout_ticks: positive.default(500),
    snapshot_interval_slots: positive.default(10_000),
    /**
     * The leader proposes a checkpoint (its running hash) after this many applied slots; every
     * replica compares it with its own and halts if they differ (docs/replication.md).
     */
    checkpoint_interval_slots: positive.default(DEFAULT_CHECKPOINT_INTERVAL_SLOTS),
    retain_slots: z.number().int().min(0).default(1000),
    max_outstanding_proposals: positive.default(100_000),
    max_batch_commands: positive.default(1024),
    /** How long a follower waits for the leader to answer a forwarded request. */
    forward_timeout_ms: positive.default(5000),
    /**
     * Mutual TLS between consensus peers: the cluster CA and this node's certificate and key
     * (`cartridge certs init`). Required on a non-loopback bind unless the node runs --insecure.
     */
    tls: z
      .object({ ca: z.string().min(1), cert: z.string().min(1), key: z.string().min(1) })
      .strict()
      .optional(),
    cluster: z
      .object({
        members: z.array(nodeId).min(1).max(15),
        endpoints: z.record(z.string(), endpoint),
      })
      .strict()
      .optional(),
  })
  .strict();

/** Reserved for TLS of the gRPC server (same meaning as --tls-cert, --tls-key, --tls-client-ca). */
const tls = z
  .object({
    cert: z.string().min(1),
    key: z.string().min(1),
    client_ca: z.string().min(1).optional(),
  })
  .strict();

const fileSchema = z.object({ consensus, tls: tls.optional() }).strict();

type ParsedFile = z.infer<typeof fileSchema>;

/** Where one member listens. */
export interface Endpoint {
  readonly host: string;
  readonly consensusPort: number;
  readonly grpcPort: number;
}

/** A validated node config with every default applied and every path absolute. */
export interface NodeConfig {
  readonly engine: "paxos" | "single";
  readonly nodeId: string;
  readonly clusterId: string;
  readonly storage:
    | { readonly type: "wal"; readonly walPath: string }
    | { readonly type: "memory" };
  readonly transport: { readonly type: "tcp"; readonly bind: string } | { readonly type: "memory" };
  readonly tickIntervalMs: number;
  readonly electionTimeoutTicks: number;
  readonly heartbeatIntervalTicks: number;
  readonly proposalTimeoutTicks: number;
  readonly snapshotIntervalSlots: number;
  readonly checkpointIntervalSlots: number;
  readonly retainSlots: number;
  readonly maxOutstandingProposals: number;
  readonly maxBatchCommands: number;
  readonly forwardTimeoutMs: number;
  /** Members in config order; a "single" engine without a [consensus.cluster] has just itself. */
  readonly members: readonly string[];
  /** Endpoints by node id (empty for a single engine without a cluster table). */
  readonly endpoints: ReadonlyMap<string, Endpoint>;
  readonly tls:
    | { readonly cert: string; readonly key: string; readonly clientCa?: string }
    | undefined;
  /** PEM files for mutual TLS between consensus peers; plaintext without. */
  readonly consensusTls:
    | { readonly ca: string; readonly cert: string; readonly key: string }
    | undefined;
}

/** "consensus.storage.wal_path" for a zod issue path. */
function keyName(path: readonly PropertyKey[]): string {
  return path.map((part) => (typeof part === "number" ? `[${part}]` : String(part))).join(".");
}

/** Checks that need more than one key: membership, endpoints, transport for the engine. */
function crossCheck(config: ParsedFile): string[] {
  const problems: string[] = [];
  const { consensus: c } = config;
  const cluster = c.cluster;
  if (c.engine === "paxos" && cluster === undefined) {
    problems.push('consensus.cluster: required for engine = "paxos" (members and endpoints)');
  }
  if (cluster !== undefined) {
    const members = new Set(cluster.members);
    if (members.size !== cluster.members.length) {
      problems.push("consensus.cluster.members: a node id appears twice");
    }
    if (!members.has(c.replica_id)) {
      problems.push(`consensus.replica_id: "${c.replica_id}" is not in consensus.cluster.members`);
    }
    for (const id of members) {
      if (cluster.endpoints[id] === undefined) {
        problems.push(`consensus.cluster.endpoints: no endpoint for member "${id}"`);
      }
    }
    for (const id of Object.keys(cluster.endpoints)) {
      if (!members.has(id)) {
        problems.push(`consensus.cluster.endpoints.${id}: not a member`);
      }
    }
    const self = cluster.endpoints[c.replica_id];
    if (self !== undefined && c.transport.type === "tcp") {
      const bindPort = Number(c.transport.bind.slice(c.transport.bind.lastIndexOf(":") + 1));
      if (bindPort !== self.consensus_port) {
        problems.push(
          `consensus.transport.bind: port ${bindPort} differs from this node's consensus_port ${self.consensus_port}`,
        );
      }
    }
    if (c.engine === "paxos" && cluster.members.length > 1 && c.transport.type !== "tcp") {
      problems.push(
        'consensus.transport: a cluster of several processes needs type = "tcp" (memory only connects replicas inside one process)',
      );
    }
  }
  if (c.engine === "single" && cluster !== undefined && cluster.members.length > 1) {
    problems.push('consensus.engine: "single" cannot have several members; use "paxos"');
  }
  if (c.heartbeat_interval_ticks >= c.election_timeout_ticks) {
    problems.push(
      "consensus.heartbeat_interval_ticks: must be smaller than election_timeout_ticks",
    );
  }
  return problems;
}

/** Validates a parsed TOML document; `baseDir` anchors relative paths. Throws `ConfigError`. */
export function resolveNodeConfig(document: unknown, baseDir: string, source: string): NodeConfig {
  const parsed = fileSchema.safeParse(document);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = keyName(issue.path);
      return `${key === "" ? "(top level)" : key}: ${issue.message}`;
    });
    throw new ConfigError(`${source}: invalid config\n  ${problems.join("\n  ")}`);
  }
  const problems = crossCheck(parsed.data);
  if (problems.length > 0) {
    throw new ConfigError(`${source}: invalid config\n  ${problems.join("\n  ")}`);
  }
  const c = parsed.data.consensus;
  const endpoints = new Map<string, Endpoint>();
  for (const [id, e] of Object.entries(c.cluster?.endpoints ?? {})) {
    endpoints.set(id, { host: e.host, consensusPort: e.consensus_port, grpcPort: e.grpc_port });
  }
  const tlsTable = parsed.data.tls;
  return {
    engine: c.engine,
    nodeId: c.replica_id,
    clusterId: c.cluster_id,
    storage:
      c.storage.type === "wal"
        ? { type: "wal", walPath: resolve(baseDir, c.storage.wal_path) }
        : { type: "memory" },
    transport: c.transport,
    tickIntervalMs: c.tick_interval_ms,
    electionTimeoutTicks: c.election_timeout_ticks,
    heartbeatIntervalTicks: c.heartbeat_interval_ticks,
    proposalTimeoutTicks: c.proposal_timeout_ticks,
    snapshotIntervalSlots: c.snapshot_interval_slots,
    checkpointIntervalSlots: c.checkpoint_interval_slots,
    retainSlots: c.retain_slots,
    maxOutstandingProposals: c.max_outstanding_proposals,
    maxBatchCommands: c.max_batch_commands,
    forwardTimeoutMs: c.forward_timeout_ms,
    members: c.cluster?.members ?? [c.replica_id],
    endpoints,
    tls:
      tlsTable === undefined
        ? undefined
        : {
            cert: resolve(baseDir, tlsTable.cert),
            key: resolve(baseDir, tlsTable.key),
            ...(tlsTable.client_ca === undefined
              ? {}
              : { clientCa: resolve(baseDir, tlsTable.client_ca) }),
          },
    consensusTls:
      c.tls === undefined
        ? undefined
        : {
            ca: resolve(baseDir, c.tls.ca),
            cert: resolve(baseDir, c.tls.cert),
            key: resolve(baseDir, c.tls.key),
          },
  };
}

/** Reads and validates a node config file. Relative paths in it are relative to the file. */
export async function loadNodeConfig(file: string): Promise<NodeConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new ConfigError(`${file}: cannot read the config (${(error as Error).message})`);
  }
  let document: unknown;
  try {
    document = parseToml(text);
  } catch (error) {
    throw new ConfigError(`${file}: not valid TOML: ${(error as Error).message}`);
  }
  return resolveNodeConfig(document, dirname(resolve(file)), file);
}

/** What `cartridge serve` without `--config` may choose for its embedded node. */
export interface EmbeddedNodeOptions {
  /**
   * `--data-dir DIR`: keep the replicated state (sessions, deployed builds, the cluster KV) in a
   * write-ahead log in DIR, so that it survives a restart. Without it, the state is in memory.
   */
  readonly dataDir?: string | undefined;
}

/**
 * The config of a node started without `--config`: the single-node engine, its storage in memory
 * or (with a data dir) a WAL, every operator setting at its default (from the same schema).
 */
export function embeddedNodeConfig(options: EmbeddedNodeOptions = {}): NodeConfig {
  const storage =
    options.dataDir === undefined
      ? { type: "memory" }
      : { type: "wal", wal_path: resolve(options.dataDir) };
  return resolveNodeConfig(
    { consensus: { engine: "single", replica_id: "1", storage } },
    ".",
    options.dataDir === undefined ? "(embedded)" : "(embedded, --data-dir)",
  );
}
