import type { handleUnaryCall, MethodDefinition } from "@grpc/grpc-js";
import { ConsensusError } from "../consensus/core/errors.js";
import {
  type ClusterServer,
  ClusterService,
  type CompareAndSetRequest,
  type CompareAndSetResponse,
  type GetRequest,
  type GetResponse,
  type PutRequest,
  type PutResponse,
  type StatusResponse,
} from "../proto/generated/cluster/v1/cluster.js";
import { unwrapOutcome } from "../replication/envelope.js";
import { ReplicationError } from "../replication/errors.js";
import {
  decodeKvResult,
  encodeKvCommand,
  type KvCommand,
  type KvResult,
} from "../replication/kv/kv-commands.js";
import { finishError, finishOk, openCall, type ServiceDeps } from "./call-context.js";
import { type ForwardingOptions, LeaderForwarder } from "./leader-forwarding.js";
import { type Ids, idsOf } from "./request-ids.js";

/** Fully-qualified name of the Cluster service (health checks, reflection). */
export const CLUSTER_SERVICE_NAME = "cluster.v1.Cluster";

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

/** Options of the Cluster service: how it reaches the leader. */
export type ClusterServiceOptions = ForwardingOptions;

/** The Cluster service over a node; `close()` releases the forwarding connection. */
export function createClusterService(
  node: ClusterNode,
  deps: ServiceDeps,
  options: ClusterServiceOptions,
): { implementation: ClusterServer; close(): void } {
  const leader = new LeaderForwarder(node, options);

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
    method: keyof typeof ClusterService,
    name: string,
    toCommand: (request: Req) => KvCommand,
    toResponse: (index: number, result: KvResult) => Res,
  ): handleUnaryCall<Req, Res> {
    const definition = ClusterService[method] as unknown as MethodDefinition<Req, Res>;
    return (call, callback) => {
      const startNs = process.hrtime.bigint();
      const ctx = openCall(deps, name, call.metadata);
      const run = async (): Promise<Res> => {
        const ids = idsOf(call.request);
        const command = toCommand(call.request);
        encodeKvCommand(command); // validates sizes before anything is forwarded or proposed
        return leader.route(call, definition, async () => {
          const { index, result } = await proposeHere(command, ids);
          return toResponse(index, result);
        });
      };
      run().then(
        (response) => {
          finishOk(deps, ctx, startNs);
          callback(null, response);
        },
        (error: unknown) => {
          const mapped = finishError(deps, ctx, startNs, error);
          callback(leader.withLeaderHint(error, mapped.serviceError));
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
      "put",
      "Put",
      (request) => ({ op: "put", key: request.key, value: request.value }),
      (index, result) => {
        if (result.op !== "put") throw new ReplicationError("BadCommand", "not a put result");
        return { version: BigInt(result.version), index: BigInt(index) };
      },
    ),
    get: kvCall<GetRequest, GetResponse>(
      "get",
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
    ),
    compareAndSet: kvCall<CompareAndSetRequest, CompareAndSetResponse>(
      "compareAndSet",
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
    ),
  };
  return { implementation, close: () => leader.close() };
}
