import { describe, expect, it } from "vitest";
import {
  DEFAULT_CORE_OPTIONS,
  quorumSize,
  validateConfig,
} from "../../../host/consensus/core/config.js";
import { ConsensusError } from "../../../host/consensus/core/errors.js";
import { clusterConfig } from "./helpers.js";

describe("cluster config", () => {
  it("computes majority quorums", () => {
    expect([1, 2, 3, 4, 5].map((n) => quorumSize(clusterConfig(n)))).toEqual([1, 2, 2, 3, 3]);
  });

  it("rejects duplicate ids, bad replica ids and bad limits", () => {
    const dup = {
      members: [
        { nodeId: "a", replicaId: 1 },
        { nodeId: "a", replicaId: 2 },
      ],
    };
    expect(() => validateConfig(dup, DEFAULT_CORE_OPTIONS)).toThrow(ConsensusError);
    const zero = { members: [{ nodeId: "a", replicaId: 0 }] };
    expect(() => validateConfig(zero, DEFAULT_CORE_OPTIONS)).toThrow(ConsensusError);
    expect(() =>
      validateConfig(clusterConfig(3), { ...DEFAULT_CORE_OPTIONS, windowSlots: 0 }),
    ).toThrow(ConsensusError);
    expect(() =>
      validateConfig(clusterConfig(3), {
        ...DEFAULT_CORE_OPTIONS,
        heartbeatIntervalTicks: 30,
        electionTimeoutTicks: 20,
      }),
    ).toThrow(ConsensusError);
  });

  it("requires a full batch and a snapshot chunk to fit in one message", () => {
    const options = { ...DEFAULT_CORE_OPTIONS, maxMessageBytes: 1000 };
    expect(() =>
      validateConfig(clusterConfig(3), { ...options, maxBatchBytes: 1001, snapshotChunkBytes: 10 }),
    ).toThrow(ConsensusError);
    expect(() =>
      validateConfig(clusterConfig(3), { ...options, maxBatchBytes: 10, snapshotChunkBytes: 1001 }),
    ).toThrow(ConsensusError);
    expect(() =>
      validateConfig(clusterConfig(3), {
        ...options,
        maxBatchBytes: 10,
        snapshotRetransmitTicks: 0,
      }),
    ).toThrow(ConsensusError);
    validateConfig(clusterConfig(3), { ...options, maxBatchBytes: 1000, snapshotChunkBytes: 1000 });
  });
});
