import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KvClient, runCli, TestCluster, type TestNode } from "./cluster-harness.js";

/**
 * Three `cartridge serve --config` processes over TCP on loopback, WALs in a temp dir. One cluster
 * serves the tests in order (starting node processes is most of the cost); each test leaves all
 * three running. Every wait is on a condition (Status polled); the test timeout is the only bound,
 * generous because a loaded machine takes seconds to start a node.
 */
// The same tests over plaintext TCP and over mutual TLS between the nodes (issue 12).
describe.each([
  { transport: "plaintext TCP", mutualTls: false },
  { transport: "mutual TLS", mutualTls: true },
])("a 3-node cluster of real processes over $transport", { timeout: 120_000 }, ({ mutualTls }) => {
  let current: TestCluster | undefined;
  const cluster = (): TestCluster => {
    if (current === undefined) throw new Error("the cluster did not start");
    return current;
  };
  beforeAll(async () => {
    current = await TestCluster.create({ mutualTls });
    await current.startAll();
  }, 120_000);
  afterAll(async () => {
    await current?.destroy();
  });

  it("discovers the leader, serves one write, a sequence, a concurrent batch, and agrees", async () => {
    const leader = await cluster().leader();
    const view = await leader.status();
    expect(view.role).toBe("leader");
    expect(view.members.map((m) => m.nodeId)).toEqual(["1", "2", "3"]);
    const follower = cluster().nodes.find((n) => n.id !== leader.id) as TestNode;
    const followerView = await follower.status();
    expect(followerView.leaderAddress).toBe(leader.grpcAddress);

    const client = new KvClient(cluster(), "e2e-one");
    const first = await client.put("greeting", "hello");
    expect(first.version).toBe(1n);
    for (let i = 0; i < 20; i++) await client.put(`seq-${i}`, `v${i}`);
    const batch = await Promise.all(
      Array.from({ length: 32 }, (_, i) => new KvClient(cluster(), `batch-${i}`)).map((c, i) =>
        c.put(`batch-${i}`, `b${i}`),
      ),
    );
    expect(new Set(batch.map((r) => r.version)).size).toBe(32);
    // A read through a follower is forwarded to the leader and ordered through the log.
    const read = await new KvClient(cluster(), "e2e-reader").get("seq-19");
    expect(read).toMatchObject({ found: true, value: "v19" });
    const commit = Number((await leader.status()).commitIndex);
    const applied = await cluster().appliedAtLeast(commit);
    expect(applied.every((a) => a >= commit)).toBe(true);
  });

  it("`cartridge cluster status` prints every node's view as a table", async () => {
    const leader = await cluster().leader();
    const commit = Number((await leader.status()).commitIndex);
    await cluster().appliedAtLeast(commit);
    const endpoints = cluster().nodes.map((node) => node.grpcAddress);
    const { stdout } = await runCli(["cluster", "status", "--endpoints", endpoints.join(",")]);
    const [header, ...rows] = stdout
      .trimEnd()
      .split("\n")
      .map((line) => line.split(/\s{2,}/));
    expect(header).toEqual([
      "ENDPOINT",
      "NODE",
      "ROLE",
      "LEADER",
      "BALLOT",
      "COMMIT",
      "APPLIED",
      "QUORUM",
      "PEERS",
    ]);
    expect(rows.map((row) => row.slice(0, 4))).toEqual(
      cluster().nodes.map((node) => [
        node.grpcAddress,
        node.id,
        node === leader ? "leader" : "follower",
        `${leader.id} ${leader.grpcAddress}`,
      ]),
    );
    for (const [i, row] of rows.entries()) {
      expect(Number(row[6])).toBeGreaterThanOrEqual(commit);
      // Reachability is live (a stall of an election timeout on a loaded machine flips it), so
      // only its form is asserted: every other member, up (maybe behind) or down.
      expect(row[7]).toMatch(/^(yes|no)$/);
      const others = cluster().nodes.filter((_, j) => j !== i);
      expect(row[8]).toMatch(
        new RegExp(`^${others.map((node) => `${node.id}:(up(\\(-\\d+\\))?|down)`).join(" ")}$`),
      );
    }
  });

  it("a SIGSTOPped follower rejoins after SIGCONT without deposing the leader", async () => {
    const leader = await cluster().leader();
    const ballot = (await leader.status()).ballot;
    const paused = cluster().nodes.find((n) => n !== leader) as TestNode;
    paused.signal("SIGSTOP");
    const client = new KvClient(cluster(), "while-paused");
    for (let i = 0; i < 10; i++) await client.put(`p-${i}`, `${i}`);
    paused.signal("SIGCONT");
    const commit = Number((await leader.status()).commitIndex);
    await cluster().appliedAtLeast(commit);
    const after = await leader.status();
    expect(after.role).toBe("leader");
    expect(after.ballot).toBe(ballot);
  });

  it("keeps every acknowledged write through a leader SIGKILL; the killed node catches up from its WAL", async () => {
    const oldLeader = await cluster().leader();
    const acknowledged = new Map<string, string>();
    let stop = false;
    let writesAfterKill = 0;
    let killed = false;
    const writerClients = Array.from(
      { length: 6 },
      (_, w) => new KvClient(cluster(), `writer-${w}`),
    );
    const writers = writerClients.map(async (client, w) => {
      for (let i = 0; !stop; i++) {
        const key = `w${w}-${i}`;
        await client.put(key, `value-${w}-${i}`);
        acknowledged.set(key, `value-${w}-${i}`);
        if (killed) writesAfterKill += 1;
      }
    });
    let newLeader: TestNode | undefined;
    try {
      await until(() => acknowledged.size >= 30);
      oldLeader.signal("SIGKILL");
      await oldLeader.exited;
      killed = true;
      const survivors = cluster().nodes.filter((n) => n !== oldLeader);
      newLeader = await cluster().leader(survivors);
      expect(newLeader.id).not.toBe(oldLeader.id);
      await until(() => writesAfterKill >= 30);
      stop = true;
      await Promise.all(writers);
    } finally {
      // Also when an expectation failed: no writer may outlive the test.
      stop = true;
      if (newLeader === undefined) for (const client of writerClients) client.stop();
      await Promise.allSettled(writers);
    }
    await oldLeader.start();
    const commit = Number((await (newLeader as TestNode).status()).commitIndex);
    await cluster().appliedAtLeast(commit);
    await expectAll(cluster(), acknowledged, "verifier");
  });

  it("loses nothing acknowledged when all three are SIGKILLed and restarted", async () => {
    await cluster().leader();
    const clients = Array.from({ length: 4 }, (_, i) => new KvClient(cluster(), `c${i}`));
    const acknowledged = new Map<string, string>();
    await Promise.all(
      clients.map(async (client, c) => {
        for (let i = 0; i < 15; i++) {
          await client.put(`k${c}-${i}`, `v${c}-${i}`);
          acknowledged.set(`k${c}-${i}`, `v${c}-${i}`);
        }
      }),
    );
    for (const node of cluster().nodes) node.signal("SIGKILL");
    await Promise.all(cluster().nodes.map((node) => node.exited));
    await cluster().startAll();
    await cluster().leader();
    await expectAll(cluster(), acknowledged, "after-restart");
  });
});

/** Reads every key back (linearizably) with 8 clients side by side. */
async function expectAll(
  cluster: TestCluster,
  expected: ReadonlyMap<string, string>,
  name: string,
): Promise<void> {
  const entries = [...expected];
  await Promise.all(
    Array.from({ length: 8 }, async (_, r) => {
      const reader = new KvClient(cluster, `${name}-${r}`);
      for (let i = r; i < entries.length; i += 8) {
        const [key, value] = entries[i] as [string, string];
        expect(await reader.get(key)).toMatchObject({ found: true, value });
      }
    }),
  );
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 20));
}
