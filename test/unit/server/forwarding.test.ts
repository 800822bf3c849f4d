import {
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsensusError } from "../../../host/consensus/core/errors.js";
import {
  ClusterService,
  type PutRequest,
  PutResponse,
} from "../../../host/proto/generated/cluster/v1/cluster.js";
import type { ForwardingSecurity } from "../../../host/server/forwarding.js";
import { FORWARDED_METADATA_KEY, LeaderForwarder } from "../../../host/server/leader-forwarding.js";
import { ERROR_CODE_METADATA_KEY, RelayedError } from "../../../host/server/status.js";

const plaintext = credentials.createInsecure();

function metadataOf(entries: Record<string, string>): Metadata {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(entries)) metadata.set(key, value);
  return metadata;
}

/** The parts of an incoming call the forwarder reads. */
function incoming(metadata: Metadata): ServerUnaryCall<PutRequest, PutResponse> {
  return {
    metadata,
    request: { clientId: "c", requestId: 1n, key: "k", value: Buffer.from("v") },
    getDeadline: () => Number.POSITIVE_INFINITY,
  } as unknown as ServerUnaryCall<PutRequest, PutResponse>;
}

describe("LeaderForwarder", () => {
  /** What the leader saw of each relayed call's metadata. */
  const seen: Metadata[] = [];
  let server: Server;
  let address = "";
  beforeAll(async () => {
    server = new Server();
    server.addService(ClusterService, {
      put: (
        call: ServerUnaryCall<PutRequest, PutResponse>,
        callback: (error: Partial<ServiceError> | null, response?: PutResponse) => void,
      ) => {
        seen.push(call.metadata);
        if (call.request.key === "refuse") {
          callback({
            code: status.PERMISSION_DENIED,
            details: "no admin role",
            metadata: metadataOf({ [ERROR_CODE_METADATA_KEY]: "PermissionDenied" }),
          });
          return;
        }
        callback(null, PutResponse.fromPartial({ version: 7n, index: 3n }));
      },
    } as never);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
        error === null ? resolve(bound) : reject(error),
      ),
    );
    address = `127.0.0.1:${port}`;
  });
  afterAll(() => {
    server.forceShutdown();
  });

  /** A follower whose leader is at `leaderAddress`, relaying with `security`. */
  function follower(security: ForwardingSecurity, timeoutMs: number, leaderAddress = address) {
    return new LeaderForwarder(
      {
        isLeader: () => false,
        status: () => ({ nodeId: "2", leaderId: "1", leaderAddress }),
      },
      { forward: true, forwardTimeoutMs: timeoutMs, security },
    );
  }
  const notHere = () => Promise.reject(new Error("a follower must not run the call itself"));
  const relay = (forwarder: LeaderForwarder, call: ServerUnaryCall<PutRequest, PutResponse>) =>
    forwarder.route(call, ClusterService.put, notHere);
  const refusalOf = (forwarder: LeaderForwarder, metadata: Metadata) =>
    relay(forwarder, incoming(metadata)).then(
      () => undefined,
      (error: unknown) => (error instanceof ConsensusError ? error.message : String(error)),
    );

  it("refuses to forward twice, and with tokens a call without a bearer token", async () => {
    const open = follower({ channel: plaintext, passToken: false }, 1000);
    const closed = follower({ channel: plaintext, passToken: true }, 1000);
    try {
      expect(await refusalOf(open, new Metadata())).toBeUndefined();
      expect(await refusalOf(open, metadataOf({ [FORWARDED_METADATA_KEY]: "1" }))).toMatch(
        /does not lead \(the call was forwarded already\)/,
      );
      expect(await refusalOf(closed, new Metadata())).toMatch(/bearer token/);
      expect(await refusalOf(closed, metadataOf({ authorization: "Bearer abc" }))).toBeUndefined();
    } finally {
      open.close();
      closed.close();
    }
  });

  it("relays with the caller's token and request id and marks the call forwarded", async () => {
    const forwarder = follower({ channel: plaintext, passToken: true }, 5000);
    try {
      const call = incoming(metadataOf({ authorization: "Bearer abc", "x-request-id": "r-1" }));
      const answer = await relay(forwarder, call);
      expect(answer.version).toBe(7n);
      const metadata = seen.at(-1) as Metadata;
      expect(metadata.get("authorization")).toEqual(["Bearer abc"]);
      expect(metadata.get("x-request-id")).toEqual(["r-1"]);
      expect(metadata.get(FORWARDED_METADATA_KEY)).toEqual(["1"]);
    } finally {
      forwarder.close();
    }
  });

  it("never passes a token on for an open node", async () => {
    const forwarder = follower({ channel: plaintext, passToken: false }, 5000);
    try {
      const call = incoming(metadataOf({ authorization: "Bearer abc" }));
      await relay(forwarder, call);
      expect((seen.at(-1) as Metadata).get("authorization")).toEqual([]);
    } finally {
      forwarder.close();
    }
  });

  it("passes the leader's refusal on as it came, and a lost answer as Indeterminate", async () => {
    const forwarder = follower({ channel: plaintext, passToken: false }, 2000);
    try {
      const refused = incoming(new Metadata());
      (refused.request as PutRequest).key = "refuse";
      const error = await relay(forwarder, refused).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RelayedError);
      expect(error).toMatchObject({
        code: status.PERMISSION_DENIED,
        errorCode: "PermissionDenied",
      });
      // Nobody listens on port 1: the outcome of a call that got no answer is unknown.
      const nowhere = follower({ channel: plaintext, passToken: false }, 2000, "127.0.0.1:1");
      const lost = await relay(nowhere, incoming(new Metadata())).catch((e: unknown) => e);
      nowhere.close();
      expect(lost).toBeInstanceOf(ConsensusError);
      expect((lost as ConsensusError).code).toBe("Indeterminate");
    } finally {
      forwarder.close();
    }
  });
});
