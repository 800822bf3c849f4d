import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ClusterClient,
  type PutRequest,
  type PutResponse,
} from "../../host/proto/generated/cluster/v1/cluster.js";
import { secureChannel, TestCluster, type TestNode } from "./cluster-harness.js";

function put(client: ClusterClient, request: PutRequest): Promise<PutResponse> {
  return new Promise((resolve, reject) => {
    client.put(request, new Metadata(), { deadline: Date.now() + 10_000 }, (error, response) =>
      error === null ? resolve(response) : reject(error),
    );
  });
}

function putRequest(clientId: string, key: string, value: string): PutRequest {
  return { clientId, requestId: 1n, key, value: Buffer.from(value) };
}

/**
 * Forwarding in the strictest security mode: gRPC over TLS with client certificates required and
 * a tokens file, consensus over mutual TLS. A follower relays a call that carries a bearer token
 * to the leader over its own TLS channel with the caller's token; a caller known only by its
 * certificate is told where the leader is instead (docs/security.md, "Forwarding").
 */
describe("forwarding on a cluster with TLS, client certificates and tokens", {
  timeout: 120_000,
}, () => {
  let current: TestCluster | undefined;
  const cluster = (): TestCluster => {
    if (current === undefined) throw new Error("the cluster did not start");
    return current;
  };
  beforeAll(async () => {
    current = await TestCluster.create({ mutualTls: true, secureGrpc: true });
    await current.startAll();
  }, 120_000);
  afterAll(async () => {
    await current?.destroy();
  });

  async function leaderAndFollower(): Promise<{ leader: TestNode; follower: TestNode }> {
    const leader = await cluster().leader();
    const follower = cluster().nodes.find((node) => node !== leader) as TestNode;
    return { leader, follower };
  }

  it("relays a write with the caller's token from a follower to the leader", async () => {
    const { leader, follower } = await leaderAndFollower();
    // The harness's own clients present client "admin"'s certificate and an admin token.
    const answer = await put(follower.client, putRequest("fwd-token", "via-follower", "v1"));
    expect(answer.version).toBeGreaterThan(0n);
    const view = await leader.status();
    expect(Number(view.commitIndex)).toBeGreaterThanOrEqual(Number(answer.index));
  });

  it("relays the leader's refusal of a token it does not know, as the leader gave it", async () => {
    const { follower } = await leaderAndFollower();
    const creds = cluster().credentials;
    if (creds === undefined) throw new Error("no credentials");
    const client = new ClusterClient(follower.grpcAddress, secureChannel(creds, "x".repeat(43)));
    try {
      const error = (await put(client, putRequest("fwd-bad", "k", "v")).catch(
        (e: unknown) => e,
      )) as ServiceError;
      // Refused by the follower's own interceptor, before anything is forwarded or proposed.
      expect(error.code).toBe(status.UNAUTHENTICATED);
    } finally {
      client.close();
    }
  });

  it("answers a certificate-only caller UNAVAILABLE with the leader's address; the leader serves it", async () => {
    const { leader, follower } = await leaderAndFollower();
    const creds = cluster().credentials;
    if (creds === undefined) throw new Error("no credentials");
    const atFollower = new ClusterClient(follower.grpcAddress, secureChannel(creds));
    const atLeader = new ClusterClient(leader.grpcAddress, secureChannel(creds));
    try {
      const error = (await put(atFollower, putRequest("fwd-cert", "by-cert", "v")).catch(
        (e: unknown) => e,
      )) as ServiceError;
      expect(error.code).toBe(status.UNAVAILABLE);
      expect(error.metadata.get("cartridge-error-code")).toEqual(["NotLeader"]);
      expect(error.metadata.get("cartridge-leader-address")).toEqual([leader.grpcAddress]);
      // Its certificate's identity may write: the same call at the leader is applied.
      const answer = await put(atLeader, putRequest("fwd-cert", "by-cert", "v"));
      expect(answer.version).toBeGreaterThan(0n);
    } finally {
      atFollower.close();
      atLeader.close();
    }
  });
});
