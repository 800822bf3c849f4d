import type { handleUnaryCall, ServiceError } from "@grpc/grpc-js";
import { ConsensusError } from "../consensus/core/errors.js";
import {
  ClusterClient,
  type ClusterServer,
  type CompareAndSetRequest,
  type CompareAndSetResponse,
  type GetRequest,
  type GetResponse,
  type PutRequest,
  type PutResponse,
  type StatusResponse,
} from "../proto/generated/cluster/v1/cluster.js";
import { utf8Length } from "../replication/bytes.js";
import { unwrapOutcome } from "../replication/envelope.js";
import { ReplicationError } from "../replication/errors.js";
import {
  decodeKvResult,
  encodeKvCommand,
  type KvCommand,
  type KvResult,
} from "../replication/kv/kv-commands.js";
import { CLIENT_LIMITS } from "../replication/limits.js";
import { finishError, finishOk, openCall, type ServiceDeps } from "./call-context.js";
import type { ForwardCall, Forwarder } from "./forwarding.js";

/** Fully-qualified name of the Cluster service (health checks, reflection). */
export const CLUSTER_SERVICE_NAME = "cluster.v1.Cluster";
/** Trailing metadata of a refusal: the node id of the leader, when known. */
export const LEADER_ID_METADATA_KEY = "cartridge-leader-id";
/** Trailing metadata of a refusal: the leader's gRPC address ("host:port"), when known. */
export const LEADER_ADDRESS_METADATA_KEY = "cartridge-leader-address";
export { FORWARDED_METADATA_KEY } from "./forwarding.js";

/** One member as this node sees it. */
export interface MemberView {
  readonly nodeId: string;
  readonly grpcAddress: string;
  readonly isSelf: boolean;
  readonly isLeader: boolean;
  readonly reachable: boolean;
  readonly lastHeardMs: number;
  readonly commitIndex: number;
  readonly behindSlots: number;
}

/** This node's view of the cluster (what `Status` answers). */
export interface ClusterStatusView {
  readonly nodeId: string;
  readonly engine: "paxos" | "single";
  readonly role: "leader" | "follower" | "candidate" | "stopped";
  readonly leaderId: string | undefined;
  readonly leaderAddress: string | undefined;
  readonly ballot: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly inQuorum: boolean;
  readonly members: readonly MemberView[];
  readonly leaderChanges: number;
}

/**
 * What the Cluster service needs from the node (host/node implements it). Contract:
 *
 * - `propose` resolves once the command is committed and applied on this node, with the state
 *   machine's result bytes (an outcome envelope, see host/replication/envelope.ts); it rejects with
 *   a `ConsensusError` whose code says whether the outcome is known (docs/service.md).
 * - `status` is cheap and synchronous; it never blocks on the network.
 */
export interface ClusterNode {
  status(): ClusterStatusView;
  isLeader(): boolean;
  propose(
    command: Uint8Array,
    ids: { readonly clientId: string; readonly requestId: number },
  ): Promise<{ readonly index: number; readonly result: Uint8Array }>;
  /** Observes each proposal's outcome ("ok" or the consensus error code), for metrics. */
  onProposalOutcome?(outcome: string): void;
}

/** Options of the Cluster service. */
export interface ClusterServiceOptions {
  /**
   * Relays a follower's KV calls to the leader in the node's security mode (its owner closes
   * it); a call it refuses to relay is answered UNAVAILABLE with the leader's address.
   */
  readonly forwarder: Forwarder;
}

type Ids = { readonly clientId: string; readonly requestId: number };

/** Checks the identity fields every KV request carries. */
function idsOf(request: { clientId: string; requestId: bigint }): Ids {
  const clientBytes = utf8Length(request.clientId);
  if (clientBytes === 0 || clientBytes > CLIENT_LIMITS.maxClientIdBytes) {
    throw new ReplicationError(
      "BadArgument",
      `client_id must be 1 to ${CLIENT_LIMITS.maxClientIdBytes} bytes of UTF-8`,
    );
  }
  if (request.clientId.startsWith("\u0000")) {
    throw new ReplicationError("BadArgument", "client_id must not start with NUL");
  }
  if (request.requestId < 1n || request.requestId > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ReplicationError("BadArgument", "request_id must be between 1 and 2^53 - 1");
  }
  return { clientId: request.clientId, requestId: Number(request.requestId) };
}

/** Starts a KV call with `request` on the leader's Cluster client. */
type Forward<Req, Res> = (request: Req) => ForwardCall<ClusterClient, Res>;

/** The Cluster service over a node. */
export function createClusterService(
  node: ClusterNode,
  deps: ServiceDeps,
  options: ClusterServiceOptions,
): { implementation: ClusterServer } {
  const forwarder = options.forwarder;

  /** Adds the leader's id and address to a refusal, so that a client can go there directly. */
  function withLeaderHint(serviceError: ServiceError): ServiceError {
    const view = node.status();
    if (view.leaderId !== undefined && !serviceError.metadata.get(LEADER_ID_METADATA_KEY).length) {
      serviceError.metadata.set(LEADER_ID_METADATA_KEY, view.leaderId);
      if (view.leaderAddress !== undefined) {
        serviceError.metadata.set(LEADER_ADDRESS_METADATA_KEY, view.leaderAddress);
      }
    }
    return serviceError;
  }

  /** Proposes on this node (the leader) and decodes the state machine's answer. */
  async function proposeHere(
    command: KvCommand,
    ids: Ids,
  ): Promise<{ index: number; result: KvResult }> {
    const encoded = encodeKvCommand(command);
    try {
      const { index, result } = await node.propose(encoded, ids);
      node.onProposalOutcome?.("ok");
      return { index, result: decodeKvResult(unwrapOutcome(result)) };
    } catch (error) {
      if (error instanceof ConsensusError) node.onProposalOutcome?.(error.code);
      throw error;
    }
  }

  /** A KV call: leader proposes; follower forwards once; otherwise UNAVAILABLE with a hint. */
  function kvCall<Req extends { clientId: string; requestId: bigint }, Res>(
    method: string,
    toCommand: (request: Req) => KvCommand,
    toResponse: (index: number, result: KvResult) => Res,
    send: Forward<Req, Res>,
  ): handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const startNs = process.hrtime.bigint();
      const ctx = openCall(deps, method, call.metadata);
      const run = async (): Promise<Res> => {
        const ids = idsOf(call.request);
        const command = toCommand(call.request);
        encodeKvCommand(command); // validates sizes before anything is forwarded or proposed
        if (node.isLeader()) {
          const { index, result } = await proposeHere(command, ids);
          return toResponse(index, result);
        }
        const view = node.status();
        const refusal = forwarder.refusal(call.metadata);
        if (
          refusal !== undefined ||
          view.leaderAddress === undefined ||
          view.leaderId === view.nodeId
        ) {
          const why = refusal === undefined ? "" : ` (${refusal})`;
          throw new ConsensusError("NotLeader", `this node does not lead${why}`, view.leaderId);
        }
        return forwarder.relay(ClusterClient, view.leaderAddress, call, send(call.request));
      };
      run().then(
        (response) => {
          finishOk(deps, ctx, startNs);
          callback(null, response);
        },
        (error: unknown) => {
          const mapped = finishError(deps, ctx, startNs, error);
          const serviceError =
            error instanceof ConsensusError && error.code === "NotLeader"
              ? withLeaderHint(mapped.serviceError)
              : mapped.serviceError;
          callback(serviceError);
        },
      );
    };
  }

  const implementation: ClusterServer = {
    status: (call, callback) => {
      const startNs = process.hrtime.bigint();
      const ctx = openCall(deps, "Status", call.metadata);
      const view = node.status();
      const response: StatusResponse = {
        nodeId: view.nodeId,
        engine: view.engine,
        role: view.role,
        leaderId: view.leaderId ?? "",
        leaderAddress: view.leaderAddress ?? "",
        ballot: BigInt(view.ballot),
        commitIndex: BigInt(view.commitIndex),
        appliedIndex: BigInt(view.appliedIndex),
        inQuorum: view.inQuorum,
        leaderChanges: BigInt(view.leaderChanges),
        members: view.members.map((member) => ({
          nodeId: member.nodeId,
          grpcAddress: member.grpcAddress,
          isSelf: member.isSelf,
          isLeader: member.isLeader,
          reachable: member.reachable,
          lastHeardMs: BigInt(Math.max(0, Math.round(member.lastHeardMs))),
          commitIndex: BigInt(member.commitIndex),
          behindSlots: BigInt(member.behindSlots),
        })),
      };
      finishOk(deps, ctx, startNs);
      callback(null, response);
    },
    put: kvCall<PutRequest, PutResponse>(
      "Put",
      (request) => ({ op: "put", key: request.key, value: request.value }),
      (index, result) => {
        if (result.op !== "put") throw new ReplicationError("BadCommand", "not a put result");
        return { version: BigInt(result.version), index: BigInt(index) };
      },
      (request) => (client, metadata, callOptions, callback) =>
        client.put(request, metadata, callOptions, callback),
    ),
    get: kvCall<GetRequest, GetResponse>(
      "Get",
      (request) => ({ op: "get", key: request.key }),
      (index, result) => {
        if (result.op !== "get") throw new ReplicationError("BadCommand", "not a get result");
        return {
          found: result.found,
          value: Buffer.from(result.value),
          version: BigInt(result.version),
          index: BigInt(index),
        };
      },
      (request) => (client, metadata, callOptions, callback) =>
        client.get(request, metadata, callOptions, callback),
    ),
    compareAndSet: kvCall<CompareAndSetRequest, CompareAndSetResponse>(
      "CompareAndSet",
      (request) => {
        if (request.expectedVersion > BigInt(Number.MAX_SAFE_INTEGER)) {
          throw new ReplicationError("BadArgument", "expected_version beyond 2^53 - 1");
        }
        return {
          op: "cas",
          key: request.key,
          expectedVersion: Number(request.expectedVersion),
          value: request.value,
        };
      },
      (index, result) => {
        if (result.op !== "cas") throw new ReplicationError("BadCommand", "not a cas result");
        return {
          succeeded: result.succeeded,
          version: BigInt(result.version),
          currentValue: Buffer.from(result.value),
          index: BigInt(index),
        };
      },
      (request) => (client, metadata, callOptions, callback) =>
        client.compareAndSet(request, metadata, callOptions, callback),
    ),
  };
  return { implementation };
}
