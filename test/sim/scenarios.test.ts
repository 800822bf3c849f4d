import { describe, expect, it } from "vitest";
import { ConsensusError } from "../../host/consensus/core/errors.js";
import type { ProposalResult } from "../../host/consensus/engine/engine.js";
import { SimCluster, type SimNode } from "./cluster.js";
import { decodeOutput, encodeInput } from "./kv.js";
import { ScriptedCluster } from "./scripted-cluster.js";

const others = (ids: readonly number[], ...excluded: number[]): number[] =>
  ids.filter((id) => !excluded.includes(id));

function expectAllApplied(cluster: ScriptedCluster, ids: readonly number[], slots: number): void {
  cluster.runUntil(() => ids.every((id) => cluster.applied(id).length >= slots), ids);
  const reference = cluster.applied(ids[0] ?? 1);
  for (const id of ids) {
    expect(cluster.applied(id)).toEqual(reference);
  }
}

describe("scenario: dueling proposers", () => {
  it("two candidates both win phase 1; the lower ballot is refused and one value is chosen", () => {
    const cluster = new ScriptedCluster(3, 11);
    // Replicas 1 and 2 time out together and both collect pre-votes.
    while (cluster.role(1) !== "preCandidate") cluster.tick(1, [1]);
    while (cluster.role(2) !== "preCandidate") cluster.tick(1, [2]);
    cluster.deliver({ type: "preVote" });
    cluster.deliver({ type: "preVoteReply" });
    expect(cluster.role(1)).toBe("candidate");
    expect(cluster.role(2)).toBe("candidate");
    // Replica 3 promises replica 1 first, then replica 2's higher ballot.
    cluster.deliver({ type: "prepare", from: 1, to: 3 });
    cluster.deliver({ type: "promise", to: 1 });
    cluster.deliver({ type: "prepare", from: 2, to: 3 });
    cluster.deliver({ type: "promise", to: 2 });
    expect(cluster.role(1)).toBe("leader");
    expect(cluster.role(2)).toBe("leader");
    // Both propose into slot 1. Replica 1's accept is refused by replica 3 (promised higher).
    const lost = cluster.propose(1, "from-1");
    const won = cluster.propose(2, "from-2");
    cluster.deliver({ type: "accept", from: 1, to: 3 });
    cluster.deliver({ type: "nack", to: 1 });
    expect(cluster.role(1)).toBe("follower");
    expectAllApplied(cluster, cluster.ids, 1);
    expect(cluster.chosenValue(1)).toBe(won);
    expect(cluster.applied(3)).not.toContain(lost);
  });
});

describe("scenario: leader crash during phase 2", () => {
  it("a new leader picks the highest-ballot value over an older minority value", () => {
    const cluster = new ScriptedCluster(3, 5);
    const first = cluster.electLeader();
    cluster.propose(first, "base");
    expectAllApplied(cluster, cluster.ids, 1);
    // The leader accepts v1 into slot 2 itself, but its accepts are lost and it crashes.
    const v1 = cluster.propose(first, "v1");
    cluster.drop({ from: first });
    cluster.crash(first);
    // The others elect a leader that never saw v1 and fill slot 2 with v2, chosen by a quorum.
    const survivors = others(cluster.ids, first);
    const second = cluster.electLeader(survivors);
    const [follower] = others(survivors, second);
    if (follower === undefined) throw new Error("no follower");
    const v2 = cluster.propose(second, "v2");
    cluster.deliver({ type: "accept", from: second, to: follower });
    cluster.deliver({ type: "accepted", to: second });
    expect(cluster.replica(second).status().commitIndex).toBe(2);
    expect(cluster.chosenValue(2)).toBe(v2);
    // The second leader dies before the follower learns that slot 2 is chosen.
    cluster.drop({ from: second });
    cluster.crash(second);
    expect(cluster.replica(follower).status().commitIndex).toBe(1);
    // The first leader returns: the two survivors disagree about slot 2 (v1 at a lower ballot,
    // v2 at a higher one). Whoever leads must keep v2.
    cluster.restart(first);
    const third = cluster.electLeader([first, follower]);
    expect([first, follower]).toContain(third);
    expectAllApplied(cluster, [first, follower], 2);
    expect(cluster.applied(first)[1]).toBe(v2);
    expect(cluster.applied(first)).not.toContain(v1);
  });

  it("a value accepted by a minority of five is either recovered or replaced, never both", () => {
    const cluster = new ScriptedCluster(5, 9);
    const leader = cluster.electLeader();
    const [peer] = others(cluster.ids, leader);
    if (peer === undefined) throw new Error("no peer");
    const value = cluster.propose(leader, "minority");
    cluster.deliver({ type: "accept", from: leader, to: peer });
    cluster.drop({ from: leader });
    cluster.crash(leader);
    cluster.electLeader(others(cluster.ids, leader));
    cluster.restart(leader);
    expectAllApplied(cluster, cluster.ids, 1);
    const slot1 = cluster.chosenValue(1);
    expect([value, "noop"]).toContain(slot1);
  });
});

describe("scenario: old leader returns with a stale ballot", () => {
  it("its accepts are refused, it steps down and adopts the chosen values", () => {
    const cluster = new ScriptedCluster(3, 3);
    const old = cluster.electLeader();
    cluster.propose(old, "a");
    expectAllApplied(cluster, cluster.ids, 1);
    const rest = others(cluster.ids, old);
    const current = cluster.electLeader(rest);
    cluster.propose(current, "b");
    expectAllApplied(cluster, rest, 2);
    // Cut off, the old leader still believes it leads and accepts a proposal it cannot commit.
    expect(cluster.role(old)).toBe("leader");
    const stale = cluster.propose(old, "stale");
    cluster.runUntil(() => cluster.role(old) === "follower" && cluster.applied(old).length >= 2);
    expectAllApplied(cluster, cluster.ids, 2);
    expect(cluster.applied(old)).not.toContain(stale);
    expect(cluster.role(current)).toBe("leader");
  });
});

describe("scenario: a partitioned replica rejoins", () => {
  it("cannot disrupt the healthy leader (pre-vote) and catches up", () => {
    const cluster = new ScriptedCluster(3, 4);
    const leader = cluster.electLeader();
    const [isolated] = others(cluster.ids, leader);
    if (isolated === undefined) throw new Error("no follower");
    const connected = others(cluster.ids, isolated);
    const ballot = cluster.replica(leader).status().promisedBallot;
    for (let i = 0; i < 5; i += 1) {
      cluster.propose(leader, `v${i}`);
      cluster.run(2);
    }
    cluster.run(10);
    expect(cluster.replica(isolated).status().commitIndex).toBe(5);
    // Alone (and fully up to date, so only the leader check can stop it), the isolated replica times out again and again but only asks for pre-votes.
    cluster.tick(100, [isolated]);
    cluster.drop({ from: isolated });
    expect(cluster.replica(isolated).status().promisedBallot).toBe(ballot);
    // When the link comes back its next pre-vote arrives before any heartbeat: replicas that
    // hear a live leader refuse it, so it cannot start phase 1 and depose the leader.
    cluster.run(2, connected);
    while (cluster.pending({ type: "preVote", from: isolated }).length === 0) {
      cluster.tick(1, [isolated]);
    }
    cluster.deliver({ type: "preVote", from: isolated });
    cluster.deliver({ type: "preVoteReply", to: isolated });
    expect(cluster.role(isolated)).toBe("preCandidate");
    expect(cluster.replica(isolated).status().promisedBallot).toBe(ballot);
    for (let i = 5; i < 10; i += 1) {
      cluster.propose(leader, `v${i}`);
      cluster.run(2, connected);
    }
    cluster.run(60);
    expect(cluster.role(leader)).toBe("leader");
    for (const id of cluster.ids) {
      expect(cluster.replica(id).status().promisedBallot).toBe(ballot);
    }
    expectAllApplied(cluster, cluster.ids, 10);
  });
});

describe("scenario: a replica fell behind a snapshot", () => {
  it("receives the snapshot, then the slots after it", () => {
    const cluster = new ScriptedCluster(3, 6, { maxEntriesPerMessage: 4 });
    const leader = cluster.electLeader();
    const [behind] = others(cluster.ids, leader);
    if (behind === undefined) throw new Error("no follower");
    const connected = others(cluster.ids, behind);
    for (let i = 0; i < 30; i += 1) {
      cluster.propose(leader, `v${i}`);
      cluster.run(1, connected);
    }
    expectAllApplied(cluster, connected, 30);
    const compacted = cluster.snapshot(leader);
    expect(compacted).toBe(30);
    cluster.propose(leader, "after-snapshot");
    expectAllApplied(cluster, cluster.ids, 31);
    expect(cluster.deliveredByType.get("installSnapshot") ?? 0).toBeGreaterThan(0);
    expect(cluster.replica(behind).status().commitIndex).toBe(31);
  });
});

describe("scenario: client retry after a leader change", () => {
  it("is applied exactly once and answers with the first application's result", async () => {
    const sim = new SimCluster({ seed: 21, replicas: 3 });
    sim.startAll();
    let leader: SimNode | undefined;
    while (leader === undefined && sim.now < 500) {
      await sim.step();
      leader = sim.leaders()[0];
    }
    if (leader === undefined) throw new Error("no leader");
    const request = { clientId: "client-1", requestId: 1 };
    const payload = encodeInput({ op: "cas", key: "k", expected: null, value: "once" });
    const outcomes: (ProposalResult | ConsensusError)[] = [];
    leader.engine?.submit(payload, request, (outcome) => outcomes.push(outcome));
    await sim.settle();
    // One tick later the followers have accepted the slot, but the leader dies before acks.
    await sim.step();
    const first = leader;
    sim.crash(first);
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]).toBeInstanceOf(ConsensusError);
    // The client retries the same request id at whichever replica leads next.
    let next: SimNode | undefined;
    while (next === undefined && sim.now < 1000) {
      await sim.step();
      next = sim.leaders()[0];
    }
    if (next === undefined) throw new Error("no new leader");
    next.engine?.submit(payload, request, (outcome) => outcomes.push(outcome));
    while (outcomes.length < 2 && sim.now < 1500) await sim.step();
    sim.startNode(first);
    for (let i = 0; i < 100; i += 1) await sim.step();
    const retried = outcomes[1];
    if (retried === undefined || retried instanceof ConsensusError) {
      throw new Error(`retry failed: ${String(retried)}`);
    }
    // The cas succeeded exactly once: a second application would have failed (expected null).
    expect(decodeOutput(retried.result)).toEqual({ ok: true });
    expect(sim.violations).toEqual([]);
    for (const node of sim.nodes) {
      expect(node.machine.get("k")).toBe("once");
    }
  });
});

describe("scenario: a leader loses its quorum with a proposal in flight", () => {
  it("says the proposal's fate is unknown instead of retrying silently", async () => {
    const sim = new SimCluster({ seed: 33, replicas: 3 });
    sim.startAll();
    let leader: SimNode | undefined;
    while (leader === undefined && sim.now < 500) {
      await sim.step();
      leader = sim.leaders()[0];
    }
    if (leader === undefined) throw new Error("no leader");
    for (const node of sim.nodes) {
      if (node !== leader) {
        sim.network.cutLink(leader.replicaId, node.replicaId);
        sim.network.cutLink(node.replicaId, leader.replicaId);
      }
    }
    const outcomes: (ProposalResult | ConsensusError)[] = [];
    const payload = encodeInput({ op: "put", key: "k", value: "v" });
    leader.engine?.submit(payload, { clientId: "c", requestId: 1, timeoutTicks: 10_000 }, (o) =>
      outcomes.push(o),
    );
    while (outcomes.length === 0 && sim.now < 1000) await sim.step();
    const [outcome] = outcomes;
    expect(outcome).toBeInstanceOf(ConsensusError);
    expect((outcome as ConsensusError).code).toBe("Indeterminate");
    expect(leader.engine?.isLeader()).toBe(false);
  });
});
