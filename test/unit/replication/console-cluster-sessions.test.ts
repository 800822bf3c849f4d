import { afterEach, describe, expect, it } from "vitest";
import { ReplicatedConsole } from "../../../host/replication/console.js";
import { encodeManifestCommand } from "../../../host/replication/index.js";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import { InlineEngine } from "../../../host/runtime/inline-engine.js";
import { ConsoleCluster, type ConsoleNode } from "./console-cluster.js";
import { build, installOf } from "./manifest-helpers.js";
import { u32 } from "./session-helpers.js";

let cluster: ConsoleCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

function facadeOf(node: ConsoleNode): ReplicatedConsole {
  return new ReplicatedConsole({
    consensus: node.engine,
    sessions: node.console.sessions,
    runtime: new InlineEngine(new CartridgeEngine(node.registry)),
  });
}

describe("game sessions on a 3-replica in-memory Multi-Paxos cluster", () => {
  it("steps sessions through the leader; every replica holds the same; a follower reads its writes", async () => {
    const c = new ConsoleCluster(3, 7);
    cluster = c;
    await c.start();
    const leader = await c.electLeader();
    const follower = c.nodes.find((node) => node !== leader) as ConsoleNode;
    const installed = await c.until(
      leader.engine.propose(encodeManifestCommand(installOf(await build(0))), {
        clientId: "deployer",
        requestId: 1,
      }),
    );
    await c.appliedEverywhere(installed.index);

    const onLeader = facadeOf(leader);
    const onFollower = facadeOf(follower);
    const created = await c.until(
      Promise.all(
        [0, 1, 2, 3].map((i) =>
          onLeader.createSession(
            { envId: "counter-v1", seed: BigInt(i) },
            { clientId: `p${i}`, requestId: 1 },
          ),
        ),
      ),
    );
    let lastIndex = 0;
    for (let step = 0; step < 3; step += 1) {
      // The four players step at once.
      const stepped = await c.until(
        Promise.all(
          created.map(({ session }, i) =>
            onLeader.stepSession(
              { sessionId: session.sessionId, expectedStep: step, action: u32(0) },
              { clientId: `p${i}`, requestId: step + 2 },
            ),
          ),
        ),
      );
      lastIndex = Math.max(...stepped.map((s) => s.index));
    }
    const id = created[2]?.session.sessionId ?? "";
    const read = await c.until(onFollower.getSession(id, { minAppliedIndex: lastIndex }));
    expect(read.step).toBe(3);
    expect(read).toEqual(await onLeader.getSession(id));

    await c.appliedEverywhere(lastIndex);
    const snapshots = c.nodes.map((node) => Buffer.from(node.console.sessions.snapshot()));
    expect(snapshots[1]).toEqual(snapshots[0]);
    expect(snapshots[2]).toEqual(snapshots[0]);
    // A follower does not propose: the caller is sent to the leader.
    await expect(
      onFollower.stepSession(
        { sessionId: id, expectedStep: 3, action: u32(0) },
        { clientId: "p2", requestId: 9 },
      ),
    ).rejects.toMatchObject({ code: "NotLeader" });
    onLeader.close();
    onFollower.close();
  });
});
