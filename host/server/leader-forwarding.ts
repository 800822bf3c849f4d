import {
  Client,
  credentials,
  Metadata,
  type MethodDefinition,
  type ServerUnaryCall,
  type ServiceError,
} from "@grpc/grpc-js";
import { ConsensusError } from "../consensus/core/errors.js";
import { AUTHORIZATION_METADATA_KEY } from "./auth/authenticator.js";
import { REQUEST_ID_METADATA_KEY } from "./call-context.js";
import type { ForwardingSecurity } from "./forwarding.js";
import { ERROR_CODE_METADATA_KEY, RelayedError } from "./status.js";

/** Trailing metadata of a refusal: the node id of the leader, when known. */
export const LEADER_ID_METADATA_KEY = "cartridge-leader-id";
/** Trailing metadata of a refusal: the leader's gRPC address ("host:port"), when known. */
export const LEADER_ADDRESS_METADATA_KEY = "cartridge-leader-address";
/** Request metadata marking a call a follower forwarded; the receiver never forwards it again. */
export const FORWARDED_METADATA_KEY = "cartridge-forwarded";

/** Who leads, as this node sees it. */
export interface LeaderView {
  readonly nodeId: string;
  /** The leader's node id; undefined while no leader is known. */
  readonly leaderId: string | undefined;
  /** The leader's gRPC address ("host:port"); undefined while unknown. */
  readonly leaderAddress: string | undefined;
}

/**
 * What forwarding needs from the node (host/node's cluster node implements it; a single node is
 * always its own leader). Both calls are cheap and synchronous: they never wait for the network.
 */
export interface Leadership {
  isLeader(): boolean;
  status(): LeaderView;
}

/** How mutating calls reach the leader. */
export interface ForwardingOptions {
  /** How long a forwarded call may take at most (the caller's deadline may be shorter). */
  readonly forwardTimeoutMs: number;
  /**
   * Whether a follower forwards to the leader at all; without, it names the leader instead (the
   * clients follow the hint themselves; tests use this to exercise that path).
   */
  readonly forward: boolean;
  /**
   * The relay's channel and token policy in the node's own security mode (forwarding.ts:
   * TLS with the node's certificate, the caller's bearer token passed on). Plaintext without
   * tokens when absent.
   */
  readonly security?: ForwardingSecurity | undefined;
}

const PLAINTEXT: ForwardingSecurity = { channel: credentials.createInsecure(), passToken: false };

/** The earlier of the caller's deadline and `ownTimeoutMs` from now, as epoch ms. */
function forwardDeadline(callerDeadline: Date | number, ownTimeoutMs: number): number {
  const own = Date.now() + ownTimeoutMs;
  if (callerDeadline instanceof Date) return Math.min(callerDeadline.getTime(), own);
  return Number.isFinite(callerDeadline) ? Math.min(Number(callerDeadline), own) : own;
}

/**
 * Routes the mutating calls of the services a node serves (Cluster, Sessions, Manifest): the
 * leader runs them; a follower relays each call once to the leader and passes its answer on as it
 * came, or, when it cannot, refuses with `NotLeader` (UNAVAILABLE) and names the leader in the
 * trailing metadata, so that a client can go there directly. Each service holds its own forwarder
 * (grpc-js shares one connection per leader address between them); `close()` releases it.
 */
export class LeaderForwarder {
  private leader: { address: string; client: Client } | undefined;

  constructor(
    private readonly node: Leadership,
    private readonly options: ForwardingOptions,
  ) {}

  /**
   * Runs `here` when this node leads; otherwise forwards `call` to the leader as `method`. A call
   * that was itself forwarded is never forwarded again (two nodes that each think the other leads
   * must not bounce a call between them).
   */
  route<Req, Res>(
    call: ServerUnaryCall<Req, Res>,
    method: MethodDefinition<Req, Res>,
    here: () => Promise<Res>,
  ): Promise<Res> {
    if (this.node.isLeader()) return here();
    const view = this.node.status();
    const refusal = this.refusal(call.metadata);
    if (
      refusal !== undefined ||
      view.leaderAddress === undefined ||
      view.leaderId === view.nodeId
    ) {
      const why = refusal === undefined ? "" : ` (${refusal})`;
      return Promise.reject(
        new ConsensusError("NotLeader", `this node does not lead${why}`, view.leaderId),
      );
    }
    return this.forward(call, method, view.leaderAddress);
  }

  /**
   * Adds the leader's id and address to a `NotLeader` refusal (`error` is what was thrown,
   * `serviceError` what it maps to), so that the client can retry there.
   */
  withLeaderHint(error: unknown, serviceError: ServiceError): ServiceError {
    if (!(error instanceof ConsensusError) || error.code !== "NotLeader") return serviceError;
    const view = this.node.status();
    if (view.leaderId !== undefined && !serviceError.metadata.get(LEADER_ID_METADATA_KEY).length) {
      serviceError.metadata.set(LEADER_ID_METADATA_KEY, view.leaderId);
      if (view.leaderAddress !== undefined) {
        serviceError.metadata.set(LEADER_ADDRESS_METADATA_KEY, view.leaderAddress);
      }
    }
    return serviceError;
  }

  /**
   * Why a call with `metadata` is not forwarded, or undefined when it may be: forwarding is off,
   * the call was forwarded already (two nodes that each think the other leads must not bounce
   * it), or, with tokens, the call carries no bearer token the leader could check again (a
   * caller known only by its client certificate is never lent this node's identity).
   */
  private refusal(metadata: Metadata): string | undefined {
    if (!this.options.forward) return "this node does not forward";
    if (metadata.get(FORWARDED_METADATA_KEY).length > 0) return "the call was forwarded already";
    if (this.security.passToken && metadata.get(AUTHORIZATION_METADATA_KEY).length !== 1) {
      return "only a call with a bearer token is forwarded; send it to the leader";
    }
    return undefined;
  }

  private get security(): ForwardingSecurity {
    return this.options.security ?? PLAINTEXT;
  }

  close(): void {
    this.leader?.client.close();
    this.leader = undefined;
  }

  private clientFor(address: string): Client {
    if (this.leader?.address !== address) {
      this.leader?.client.close();
      this.leader = { address, client: new Client(address, this.security.channel) };
    }
    return this.leader.client;
  }

  /** Relays a call to the leader; its answer (or refusal) is passed on as it came. */
  private forward<Req, Res>(
    call: ServerUnaryCall<Req, Res>,
    method: MethodDefinition<Req, Res>,
    address: string,
  ): Promise<Res> {
    const metadata = new Metadata();
    metadata.set(FORWARDED_METADATA_KEY, "1");
    const requestId = call.metadata.get(REQUEST_ID_METADATA_KEY)[0];
    if (typeof requestId === "string") metadata.set(REQUEST_ID_METADATA_KEY, requestId);
    const token = call.metadata.get(AUTHORIZATION_METADATA_KEY)[0];
    if (this.security.passToken && typeof token === "string") {
      metadata.set(AUTHORIZATION_METADATA_KEY, token);
    }
    const deadline = forwardDeadline(call.getDeadline(), this.options.forwardTimeoutMs);
    return new Promise<Res>((resolve, reject) => {
      this.clientFor(address).makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        call.request,
        metadata,
        { deadline },
        (error, response) => {
          if (error === null || error === undefined) {
            if (response === undefined) {
              reject(new ConsensusError("Indeterminate", `forwarded to ${address}: no answer`));
            } else resolve(response);
            return;
          }
          const errorCode = String(error.metadata?.get(ERROR_CODE_METADATA_KEY)[0] ?? "");
          if (errorCode === "") {
            // The leader never answered (connection lost, deadline): the call may or may not have
            // reached it, so its outcome is unknown; a retry with the same ids settles it.
            reject(
              new ConsensusError("Indeterminate", `forwarded to ${address}: ${error.details}`),
            );
            return;
          }
          reject(new RelayedError(error.code, error.details, errorCode, error.metadata));
        },
      );
    });
  }
}
