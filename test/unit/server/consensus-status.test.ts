import { Metadata, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { ConsensusError } from "../../../host/consensus/core/errors.js";
import { ReplicationError } from "../../../host/replication/errors.js";
import {
  ERROR_CODE_METADATA_KEY,
  RelayedError,
  toServiceError,
} from "../../../host/server/status.js";

const context = { requestId: "r1" };

describe("consensus and replication errors as gRPC statuses", () => {
  it("keeps unknown outcomes apart from definite failures", () => {
    const unknown = ["Indeterminate", "Timeout"] as const;
    for (const code of unknown) {
      const mapped = toServiceError(new ConsensusError(code, "x"), context);
      expect(mapped.serviceError.code).toBe(status.DEADLINE_EXCEEDED);
      expect(mapped.serviceError.metadata.get(ERROR_CODE_METADATA_KEY)).toEqual([code]);
    }
    const definite = {
      NotLeader: status.UNAVAILABLE,
      Stopped: status.UNAVAILABLE,
      Overloaded: status.RESOURCE_EXHAUSTED,
      StaleRequest: status.FAILED_PRECONDITION,
      SessionExpired: status.FAILED_PRECONDITION,
    } as const;
    for (const [code, expected] of Object.entries(definite)) {
      const mapped = toServiceError(
        new ConsensusError(code as keyof typeof definite, "x"),
        context,
      );
      expect(mapped.serviceError.code).toBe(expected);
      expect(mapped.unexpected).toBe(false);
    }
    expect(
      toServiceError(new ReplicationError("LimitExceeded", "value too big"), context).serviceError
        .code,
    ).toBe(status.RESOURCE_EXHAUSTED);
    expect(
      toServiceError(new ReplicationError("BadArgument", "empty key"), context).serviceError.code,
    ).toBe(status.INVALID_ARGUMENT);
  });

  it("relays a leader's answer with its metadata", () => {
    const metadata = new Metadata();
    metadata.set("cartridge-leader-id", "2");
    const mapped = toServiceError(
      new RelayedError(status.UNAVAILABLE, "not leader", "NotLeader", metadata),
      context,
    );
    expect(mapped.serviceError.code).toBe(status.UNAVAILABLE);
    expect(mapped.errorCode).toBe("NotLeader");
    expect(mapped.serviceError.metadata.get("cartridge-leader-id")).toEqual(["2"]);
    expect(mapped.serviceError.metadata.get(ERROR_CODE_METADATA_KEY)).toEqual(["NotLeader"]);
  });
});
