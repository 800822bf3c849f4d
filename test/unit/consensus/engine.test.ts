import { describe, expect, it } from "vitest";
import { ConsensusError } from "../../../host/consensus/core/errors.js";
import { bytes, ManualCluster, text } from "./helpers.js";

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

  it("answers membership calls with NotImplemented", async () => {
    const cluster = new ManualCluster(3);
    await cluster.start();
    const engine = cluster.engines[0];
    const error = await engine?.removeMember("n2").catch((caught: unknown) => caught);
    expect((error as ConsensusError).code).toBe("NotImplemented");
  });

  it("deduplicates a retried request so it applies once", async () => {
    const cluster = new ManualCluster(3);
    await cluster.start();
    const leader = await cluster.electLeader();
    const first = leader.propose(bytes("once"), { clientId: "c", requestId: 1 });
    const retry = leader.propose(bytes("once"), { clientId: "c", requestId: 1 });
    await cluster.run(3);
    const [a, b] = await Promise.all([first, retry]);
    expect(text(a.result)).toBe("1");
    expect(text(b.result)).toBe("1");
    const again = leader.propose(bytes("once"), { clientId: "c", requestId: 1 });
    await cluster.run(3);
    expect(text((await again).result)).toBe("1");
    for (const machine of cluster.machines) {
      expect(machine.items).toEqual(["once"]);
    }
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
