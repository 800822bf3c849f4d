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
  ClusterClient,
  ClusterService,
  type PutRequest,
  PutResponse,
} from "../../../host/proto/generated/cluster/v1/cluster.js";
import { FORWARDED_METADATA_KEY, Forwarder } from "../../../host/server/forwarding.js";
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

describe("Forwarder", () => {
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

  const put =
    (request: PutRequest) =>
    (
      client: ClusterClient,
      metadata: Metadata,
      options: { deadline?: number | Date },
      callback: (error: ServiceError | null, response: PutResponse) => void,
    ) =>
      client.put(request, metadata, options, callback);

  it("refuses to forward twice, and with tokens a call without a bearer token", () => {
    const open = new Forwarder({ channel: plaintext, passToken: false }, 1000);
    const closed = new Forwarder({ channel: plaintext, passToken: true }, 1000);
    expect(open.refusal(new Metadata())).toBeUndefined();
    expect(open.refusal(metadataOf({ [FORWARDED_METADATA_KEY]: "1" }))).toMatch(/forwarded/);
    expect(closed.refusal(new Metadata())).toMatch(/bearer token/);
    expect(closed.refusal(metadataOf({ authorization: "Bearer abc" }))).toBeUndefined();
  });

  it("relays with the caller's token and request id and marks the call forwarded", async () => {
    const forwarder = new Forwarder({ channel: plaintext, passToken: true }, 5000);
    try {
      const call = incoming(metadataOf({ authorization: "Bearer abc", "x-request-id": "r-1" }));
      const answer = await forwarder.relay(ClusterClient, address, call, put(call.request));
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
    const forwarder = new Forwarder({ channel: plaintext, passToken: false }, 5000);
    try {
      const call = incoming(metadataOf({ authorization: "Bearer abc" }));
      await forwarder.relay(ClusterClient, address, call, put(call.request));
      expect((seen.at(-1) as Metadata).get("authorization")).toEqual([]);
    } finally {
      forwarder.close();
    }
  });

  it("passes the leader's refusal on as it came, and a lost answer as Indeterminate", async () => {
    const forwarder = new Forwarder({ channel: plaintext, passToken: false }, 2000);
    try {
      const refused = incoming(new Metadata());
      (refused.request as PutRequest).key = "refuse";
      const error = await forwarder
        .relay(ClusterClient, address, refused, put(refused.request))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RelayedError);
      expect(error).toMatchObject({
        code: status.PERMISSION_DENIED,
        errorCode: "PermissionDenied",
      });
      // Nobody listens on port 1: the outcome of a call that got no answer is unknown.
      const call = incoming(new Metadata());
      const lost = await forwarder
        .relay(ClusterClient, "127.0.0.1:1", call, put(call.request))
        .catch((e: unknown) => e);
      expect(lost).toBeInstanceOf(ConsensusError);
      expect((lost as ConsensusError).code).toBe("Indeterminate");
    } finally {
      forwarder.close();
    }
  });
});
