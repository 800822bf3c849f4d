import { afterEach, describe, expect, it } from "vitest";
import { KvClient, TestCluster, type TestNode } from "./cluster-harness.js";

/**
 * Three `cartridge serve --config` processes over TCP on loopback, WALs in a temp dir. Every wait
 * is on a condition (Status polled); vitest's test timeout is the only bound.
 */
describe("a 3-node cluster of real processes", () => {
  let cluster: TestCluster | undefined;
  afterEach(async () => {
    await cluster?.destroy();
    cluster = undefined;
  });

  it("discovers the leader, serves one write, a sequence, a concurrent batch, and agrees", async () => {
    cluster = await TestCluster.create();
    await cluster.startAll();
    const leader = await cluster.leader();
    const view = await leader.status();
    expect(view.role).toBe("leader");
    expect(view.members.map((m) => m.nodeId)).toEqual(["1", "2", "3"]);
    const follower = cluster.nodes.find((n) => n.id !== leader.id) as TestNode;
    const followerView = await follower.status();
    expect(followerView.leaderAddress).toBe(leader.grpcAddress);

    const client = new KvClient(cluster, "e2e-one");
    const first = await client.put("greeting", "hello");
    expect(first.version).toBe(1n);
    for (let i = 0; i < 20; i++) await client.put(`seq-${i}`, `v${i}`);
    const batch = await Promise.all(
      Array.from({ length: 32 }, (_, i) => new KvClient(cluster as TestCluster, `batch-${i}`)).map(
        (c, i) => c.put(`batch-${i}`, `b${i}`),
      ),
    );
    expect(new Set(batch.map((r) => r.version)).size).toBe(32);
    // A read through a follower is forwarded to the leader and ordered through the log.
    const read = await new KvClient(cluster, "e2e-reader").get("seq-19");
    expect(read).toMatchObject({ found: true, value: "v19" });
    const commit = Number((await leader.status()).commitIndex);
    const applied = await cluster.appliedAtLeast(commit);
    expect(applied.every((a) => a >= commit)).toBe(true);
  });

  it("keeps every acknowledged write through a leader SIGKILL; the killed node catches up from its WAL", async () => {
    cluster = await TestCluster.create();
    await cluster.startAll();
    const oldLeader = await cluster.leader();
    const acknowledged = new Map<string, string>();
    let stop = false;
    let writesAfterKill = 0;
    let killed = false;
    const writers = Array.from({ length: 6 }, async (_, w) => {
      const client = new KvClient(cluster as TestCluster, `writer-${w}`);
      for (let i = 0; !stop; i++) {
        const key = `w${w}-${i}`;
        await client.put(key, `value-${w}-${i}`);
        acknowledged.set(key, `value-${w}-${i}`);
        if (killed) writesAfterKill += 1;
      }
    });
    await until(() => acknowledged.size >= 30);
    oldLeader.signal("SIGKILL");
    await oldLeader.exited;
    killed = true;
    const survivors = cluster.nodes.filter((n) => n !== oldLeader);
    const newLeader = await cluster.leader(survivors);
    expect(newLeader.id).not.toBe(oldLeader.id);
    await until(() => writesAfterKill >= 30);
    stop = true;
    await Promise.all(writers);

    await oldLeader.start();
    const commit = Number((await newLeader.status()).commitIndex);
    await cluster.appliedAtLeast(commit);
    const reader = new KvClient(cluster, "verifier");
    for (const [key, value] of acknowledged) {
      expect(await reader.get(key)).toMatchObject({ found: true, value });
    }
  });

  it("a SIGSTOPped follower rejoins after SIGCONT without deposing the leader", async () => {
    cluster = await TestCluster.create();
    await cluster.startAll();
    const leader = await cluster.leader();
    const ballot = (await leader.status()).ballot;
    const paused = cluster.nodes.find((n) => n !== leader) as TestNode;
    paused.signal("SIGSTOP");
    const client = new KvClient(cluster, "while-paused");
    for (let i = 0; i < 10; i++) await client.put(`p-${i}`, `${i}`);
    paused.signal("SIGCONT");
    const commit = Number((await leader.status()).commitIndex);
    await cluster.appliedAtLeast(commit);
    const after = await leader.status();
    expect(after.role).toBe("leader");
    expect(after.ballot).toBe(ballot);
  });

  it("loses nothing acknowledged when all three are SIGKILLed and restarted", async () => {
    cluster = await TestCluster.create();
    await cluster.startAll();
    await cluster.leader();
    const clients = Array.from(
      { length: 4 },
      (_, i) => new KvClient(cluster as TestCluster, `c${i}`),
    );
    const acknowledged = new Map<string, string>();
    await Promise.all(
      clients.map(async (client, c) => {
        for (let i = 0; i < 15; i++) {
          await client.put(`k${c}-${i}`, `v${c}-${i}`);
          acknowledged.set(`k${c}-${i}`, `v${c}-${i}`);
        }
      }),
    );
    for (const node of cluster.nodes) node.signal("SIGKILL");
    await Promise.all(cluster.nodes.map((node) => node.exited));
    await cluster.startAll();
    await cluster.leader();
    const reader = new KvClient(cluster, "after-restart");
    for (const [key, value] of acknowledged) {
      expect(await reader.get(key)).toMatchObject({ found: true, value });
    }
  });
});

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 20));
}
