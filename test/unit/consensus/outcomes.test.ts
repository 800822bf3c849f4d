import { describe, expect, it } from "vitest";
import { ConsensusError } from "../../../host/consensus/core/errors.js";
import type { ProposalResult } from "../../../host/consensus/engine/engine.js";
import type { MultiPaxosEngine } from "../../../host/consensus/engine/multi-paxos-engine.js";
import { bytes, ManualCluster } from "./helpers.js";

/**
 * What a client is told when leadership is lost: `NotLeader` promises "definitely not committed",
 * so it may only answer a request none of whose copies was ever placed in a slot.
 */
describe("outcomes when the leader steps down", () => {
  /**
   * A three-replica cluster with a one-slot window whose leader hears nothing back: followers
   * accept its slots (so they are chosen) but every reply to the leader is lost, until `heal()`.
   */
  async function deafLeader() {
    const cluster = new ManualCluster(3, 3, { windowSlots: 1 });
    await cluster.start();
    const leader = await cluster.electLeader();
    await cluster.run(3);
    const leaderId = leader.replicaId();
    cluster.cut = (message) => message.to === leaderId;
    return { cluster, leader };
  }

  function record(engine: MultiPaxosEngine, payload: string, clientId: string, requestId = 1) {
    const outcomes: (ProposalResult | ConsensusError)[] = [];
    engine.submit(bytes(payload), { clientId, requestId, timeoutTicks: 10_000 }, (outcome) =>
      outcomes.push(outcome),
    );
    return outcomes;
  }

  const codes = (outcomes: readonly (ProposalResult | ConsensusError)[]) =>
    outcomes.map((outcome) => (outcome instanceof ConsensusError ? outcome.code : "ok"));

  async function stepDownAndHeal(cluster: ManualCluster, leader: MultiPaxosEngine) {
    for (let i = 0; i < 100 && leader.isLeader(); i += 1) {
      await cluster.run(1);
    }
    expect(leader.isLeader()).toBe(false);
    cluster.cut = () => false;
    await cluster.run(60);
  }

  it("answers Indeterminate, not NotLeader, to a retry merged with a copy already in a slot", async () => {
    const { cluster, leader } = await deafLeader();
    const first = record(leader, "chosen", "c");
    await cluster.run(1);
    // The followers accepted the slot: the request is chosen, but its acks never arrive.
    const slot = leader.status()?.lastIndex ?? 0;
    expect(cluster.engines.every((engine) => engine.entryAt(slot) !== undefined)).toBe(true);
    // The client retries the same request while the window is full.
    const retry = record(leader, "chosen", "c");
    await stepDownAndHeal(cluster, leader);
    expect(codes(first)).toEqual(["Indeterminate"]);
    expect(codes(retry)).toEqual(["Indeterminate"]);
    // ... and rightly so: after healing, every replica applied it, exactly once.
    for (const machine of cluster.machines) {
      expect(machine.items).toEqual(["chosen"]);
    }
  });

  it("answers NotLeader to a request that never got a slot, and it is never applied", async () => {
    const { cluster, leader } = await deafLeader();
    const first = record(leader, "chosen", "a");
    await cluster.run(1);
    // The window is full, so this one waits in the leader's queue and is dropped with it.
    const queued = record(leader, "queued", "b");
    await stepDownAndHeal(cluster, leader);
    expect(codes(first)).toEqual(["Indeterminate"]);
    expect(codes(queued)).toEqual(["NotLeader"]);
    for (const machine of cluster.machines) {
      expect(machine.items).toEqual(["chosen"]);
    }
  });

  it("answers Indeterminate to a retry at a new leader whose log already holds a copy", async () => {
    const { cluster, leader: first } = await deafLeader();
    const original = record(first, "chosen", "c");
    await cluster.run(1);
    // Isolate the first leader; drop every acceptance so no slot commits for a while.
    const firstId = first.replicaId();
    cluster.cut = (message) =>
      message.to === firstId || message.from === firstId || message.type === "accepted";
    let next: MultiPaxosEngine | undefined;
    for (let i = 0; i < 200 && next === undefined; i += 1) {
      await cluster.run(1);
      next = cluster.engines.find((engine) => engine !== first && engine.isLeader());
    }
    if (next === undefined) throw new Error("no second leader");
    // The new leader re-proposed the open slot with the request in it; the client retries there
    // and the retry waits behind the full window.
    const retry = record(next, "chosen", "c");
    const nextId = next.replicaId();
    cluster.cut = (message) =>
      message.to === firstId || message.from === firstId || message.to === nextId;
    await stepDownAndHeal(cluster, next);
    expect(codes(original)).toEqual(["Indeterminate"]);
    expect(codes(retry)).toEqual(["Indeterminate"]);
    for (const machine of cluster.machines) {
      expect(machine.items).toEqual(["chosen"]);
    }
  });
});
