import { describe, expect, it } from "vitest";
import { ConsensusError } from "../../../host/consensus/core/errors.js";
import type { MultiPaxosEngine } from "../../../host/consensus/engine/multi-paxos-engine.js";
import type { StateMachine } from "../../../host/consensus/statemachine.js";
import { runEngineContract } from "./engine.contract.js";
import { bytes, ManualCluster, text } from "./helpers.js";

/** A three-replica cluster over a reliable network; the fixture follows its current leader. */
async function threeReplicas() {
  const cluster = new ManualCluster(3);
  await cluster.start();
  let leader: MultiPaxosEngine = await cluster.electLeader();
  const position = () => cluster.engines.indexOf(leader);
  const fixture = {
    get engine() {
      return leader;
    },
    get machine() {
      const machine = cluster.machines[position()];
      if (machine === undefined) throw new Error("no machine");
      return machine;
    },
    get storage() {
      const storage = cluster.storages[position()];
      if (storage === undefined) throw new Error("no storage");
      return storage;
    },
    run: (ticks: number) => cluster.run(ticks),
    restart: async () => {
      await cluster.restartAll();
      leader = await cluster.electLeader();
    },
  };
  return fixture;
}

runEngineContract("MultiPaxosEngine, 3 replicas", threeReplicas);

describe("MultiPaxosEngine over a reliable network", () => {
  it("elects one leader and commits proposals on every replica in order", async () => {
    const cluster = new ManualCluster(3);
    await cluster.start();
    const leader = await cluster.electLeader();
    expect(cluster.engines.filter((engine) => engine.isLeader())).toHaveLength(1);
    const results = ["a", "b", "c"].map((value) => leader.propose(bytes(value)));
    await cluster.quiesce();
    await cluster.run(3);
    const settled = await Promise.all(results);
    expect(settled.map((result) => text(result.result))).toEqual(["1", "2", "3"]);
    expect(settled.every((result) => result.leaderId === leader.nodeId())).toBe(true);
    expect(settled.every((result) => result.term === leader.currentTerm())).toBe(true);
    for (const machine of cluster.machines) {
      expect(machine.items).toEqual(["a", "b", "c"]);
    }
  });

  it("keeps a leader whose apply takes longer than the election timeout: it heartbeats on", async () => {
    const cluster = new ManualCluster(3);
    await cluster.start();
    const leader = await cluster.electLeader();
    const ballot = leader.currentTerm();
    const position = cluster.engines.indexOf(leader);
    const machine = cluster.machines[position];
    if (machine === undefined) throw new Error("no machine");
    // The leader's state machine holds its next apply until released (a module being installed).
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const apply = machine.apply.bind(machine);
    const asMachine: StateMachine = machine;
    asMachine.apply = (command) => gate.then(() => apply(command));
    const slow = leader.propose(bytes("slow"));
    // Five election timeouts (10 ticks each) pass while the apply is pending.
    await cluster.run(50);
    expect(leader.isLeader()).toBe(true);
    expect(leader.currentTerm()).toBe(ballot);
    for (const engine of cluster.engines) {
      expect(engine.leaderId()).toBe(leader.nodeId());
    }
    // The slot committed and the followers applied it; the leader reports it applied only now.
    const committed = leader.status()?.commitIndex ?? 0;
    expect(leader.lastAppliedIndex()).toBeLessThan(committed);
    for (const other of cluster.machines.filter((_, i) => i !== position)) {
      expect(other.items).toContain("slow");
    }
    // It keeps replicating too: a second write commits on the followers meanwhile.
    const next = leader.propose(bytes("next"));
    await cluster.run(3);
    for (const other of cluster.machines.filter((_, i) => i !== position)) {
      expect(other.items.at(-1)).toBe("next");
    }
    release();
    await cluster.run(2);
    expect(text((await slow).result)).toBe(String(machine.items.indexOf("slow") + 1));
    await next;
    expect(leader.lastAppliedIndex()).toBe(leader.status()?.commitIndex);
    expect(machine.items.slice(-2)).toEqual(["slow", "next"]);
  });

  it("rejects proposals at a follower with NotLeader and a leader hint", async () => {
    const cluster = new ManualCluster(3);
    await cluster.start();
    const leader = await cluster.electLeader();
    await cluster.run(2);
    const follower = cluster.engines.find((engine) => !engine.isLeader());
    expect(follower).toBeDefined();
    const error = await follower?.propose(bytes("x")).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConsensusError);
    expect((error as ConsensusError).code).toBe("NotLeader");
    expect((error as ConsensusError).leaderHint).toBe(leader.nodeId());
  });

  it("restarts a replica from its storage: snapshot, replay, then catch-up", async () => {
    const cluster = new ManualCluster(3, 2);
    await cluster.start();
    const leader = await cluster.electLeader();
    const position = cluster.engines.findIndex((engine) => engine !== leader);
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 10; i += 1) {
      pending.push(leader.propose(bytes(`v${i}`)));
      await cluster.run(1);
    }
    await cluster.run(5);
    await Promise.all(pending);
    expect(cluster.storages[position]?.peek().snapshot).toBeDefined();
    const restarted = await cluster.restart(position);
    expect(restarted.lastAppliedIndex()).toBe(leader.lastAppliedIndex());
    const more = leader.propose(bytes("after-restart"));
    await cluster.run(5);
    await more;
    expect(cluster.machines[position]?.items).toEqual(
      cluster.machines[cluster.engines.indexOf(leader)]?.items,
    );
  });
});
