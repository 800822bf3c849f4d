import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { certsInit, type WrittenCerts } from "../../../host/cli/certs.js";
import type { HeartbeatMessage } from "../../../host/consensus/core/messages.js";
import {
  type MutualTlsFiles,
  mutualTlsConnector,
} from "../../../host/consensus/transport/tcp/tls-connector.js";
import { type Node, startNode } from "./tcp-helpers.js";

/**
 * Mutual TLS between consensus peers, with certificates from `cartridge certs init`: peers of one
 * CA talk; a certificate from another CA, or one that names another node than the peer claims,
 * is refused before any message reaches the receiver, and the rest of the cluster is unaffected.
 */

let dir = "";
let cluster: WrittenCerts;
let foreign: WrittenCerts;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cartridge-mtls-"));
  cluster = await certsInit({
    dir: join(dir, "cluster"),
    nodes: ["n1", "n2", "n3"],
    clients: [],
    days: 2,
  });
  foreign = await certsInit({ dir: join(dir, "foreign"), nodes: ["n2"], clients: [], days: 2 });
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function files(certs: WrittenCerts, nodeId: string): Promise<MutualTlsFiles> {
  const node = certs.nodes.get(nodeId);
  return {
    ca: await readFile(cluster.ca.cert),
    cert: await readFile(node?.cert ?? ""),
    key: await readFile(node?.key ?? ""),
  };
}

const until = (check: () => void): Promise<void> =>
  vi.waitFor(check, { timeout: 20_000, interval: 5 });

const heartbeat = (from: number, to: number): HeartbeatMessage => ({
  type: "heartbeat",
  from,
  to,
  ballot: 1025,
  commitIndex: 7,
});

describe("the consensus transport over mutual TLS", () => {
  const nodes: Node[] = [];
  const start = async (replicaId: number, tls: MutualTlsFiles): Promise<Node> => {
    const node = await startNode(replicaId, { connector: mutualTlsConnector(tls) });
    nodes.push(node);
    return node;
  };
  afterEach(() => {
    for (const node of nodes.splice(0)) node.transport.close();
  });

  it("carries messages between nodes whose certificates the cluster CA signed", async () => {
    const one = await start(1, await files(cluster, "n1"));
    const two = await start(2, await files(cluster, "n2"));
    one.transport.setPeerAddress(2, two.address);
    two.transport.setPeerAddress(1, one.address);
    one.transport.send(heartbeat(1, 2));
    two.transport.send(heartbeat(2, 1));
    await until(() => expect(two.received).toEqual([heartbeat(1, 2)]));
    await until(() => expect(one.received).toEqual([heartbeat(2, 1)]));
  });

  it("refuses a node whose certificate another CA signed; the others go on", async () => {
    const one = await start(1, await files(cluster, "n1"));
    // Trusts the cluster CA but presents a certificate the cluster CA never signed.
    const impostor = await start(2, { ...(await files(foreign, "n2")) });
    const three = await start(3, await files(cluster, "n3"));
    one.transport.setPeerAddress(2, impostor.address);
    one.transport.setPeerAddress(3, three.address);
    one.transport.send(heartbeat(1, 2));
    one.transport.send(heartbeat(1, 3));
    await until(() => expect(three.received).toEqual([heartbeat(1, 3)]));
    await until(() => expect(one.transport.stats().peers[2]?.dialFailures).toBeGreaterThan(0));
    expect(impostor.received).toEqual([]);
    expect(one.transport.stats().peers[2]?.connected).toBe(false);
  });

  it("refuses a node whose certificate names another node than it claims", async () => {
    const two = await start(2, await files(cluster, "n2"));
    // A real cluster certificate, but of n3, on a node claiming to be replica 1.
    const liar = await start(1, await files(cluster, "n3"));
    liar.transport.setPeerAddress(2, two.address);
    liar.transport.send(heartbeat(1, 2));
    await until(() => expect(two.logger.codes()).toContain("IdentityMismatch"));
    expect(two.received).toEqual([]);
    // And a dialer reaching a listener whose certificate names another node refuses to talk.
    const one = await start(1, await files(cluster, "n1"));
    const three = await start(3, await files(cluster, "n3"));
    one.transport.setPeerAddress(2, three.address);
    one.transport.send(heartbeat(1, 2));
    await until(() => expect(one.transport.stats().peers[2]?.dialFailures).toBeGreaterThan(0));
    expect(three.received).toEqual([]);
  });
});
