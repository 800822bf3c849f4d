import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { certsInit, type WrittenCerts } from "../../../host/cli/certs.js";
import type { ClusterConfig } from "../../../host/consensus/core/config.js";
import type { HeartbeatMessage } from "../../../host/consensus/core/messages.js";
import { tlsConnector } from "../../../host/consensus/transport/tcp/tls-connector.js";
import { introduce, type Node, startNode } from "./tcp-helpers.js";

/** Node ids "1".."3" (what certificates name), replica ids 1..3. */
const CONFIG: ClusterConfig = {
  members: [1, 2, 3].map((replicaId) => ({ nodeId: String(replicaId), replicaId })),
};

const until = (check: () => void): Promise<void> =>
  vi.waitFor(check, { timeout: 20_000, interval: 5 });

const heartbeat = (from: number, to: number): HeartbeatMessage => ({
  type: "heartbeat",
  from,
  to,
  ballot: 1025,
  commitIndex: 1,
});

describe("TcpTransport over mutual TLS", () => {
  let dir = "";
  let cluster: WrittenCerts;
  let foreign: WrittenCerts;
  const nodes: Node[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "cartridge-tls-transport-"));
    cluster = await certsInit({
      dir: join(dir, "cluster"),
      nodes: ["1", "2", "3"],
      clients: [],
      days: 1,
    });
    foreign = await certsInit({ dir: join(dir, "foreign"), nodes: ["1"], clients: [], days: 1 });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(() => {
    for (const node of nodes.splice(0)) {
      node.transport.close();
    }
  });

  async function tlsNode(replicaId: number, certs: WrittenCerts, certOf = String(replicaId)) {
    const files = certs.nodes.get(certOf);
    if (files === undefined) {
      throw new Error(`no certificate for ${certOf}`);
    }
    const connector = tlsConnector({
      ca: await readFile(certs.ca.cert),
      cert: await readFile(files.cert),
      key: await readFile(files.key),
    });
    const node = await startNode(replicaId, { config: CONFIG, connector });
    nodes.push(node);
    return node;
  }

  it("connects peers whose certificates name the replicas they claim", async () => {
    const one = await tlsNode(1, cluster);
    const two = await tlsNode(2, cluster);
    introduce([one, two]);
    one.transport.send(heartbeat(1, 2));
    two.transport.send(heartbeat(2, 1));
    await one.transport.barrier(2);
    await two.transport.barrier(1);
    expect(two.received).toEqual([heartbeat(1, 2)]);
    expect(one.received).toEqual([heartbeat(2, 1)]);
  });

  it("refuses a peer claiming another replica's id than its certificate names", async () => {
    const two = await tlsNode(2, cluster);
    const impostor = await tlsNode(1, cluster, "3");
    impostor.transport.setPeerAddress(2, two.address);
    impostor.transport.send(heartbeat(1, 2));
    await until(() => expect(two.logger.codes()).toContain("IdentityMismatch"));
    expect(two.received).toEqual([]);
    const reason = two.logger.entries.find((e) => e.fields.code === "IdentityMismatch")?.fields
      .reason;
    expect(reason).toBe("peer's certificate names ['3'] but it claims node '1'");
  });

  it("fails the TLS handshake with a certificate from another CA; nothing is delivered", async () => {
    const two = await tlsNode(2, cluster);
    const stranger = await tlsNode(1, foreign);
    stranger.transport.setPeerAddress(2, two.address);
    stranger.transport.send(heartbeat(1, 2));
    await until(() => expect(stranger.transport.stats().peers[2]?.dialFailures).toBeGreaterThan(1));
    expect(two.received).toEqual([]);
    expect(two.transport.stats().peers[1]?.connects).toBe(0);
  });

  it("does not dial into a server whose certificate names another replica", async () => {
    const one = await tlsNode(1, cluster);
    const three = await tlsNode(3, cluster);
    one.transport.setPeerAddress(2, three.address);
    one.transport.send(heartbeat(1, 2));
    await until(() => expect(one.transport.stats().peers[2]?.dialFailures).toBeGreaterThan(1));
    expect(three.received).toEqual([]);
    expect(one.logger.entries.some((e) => String(e.fields.error).includes("not 2"))).toBe(true);
  });
});
