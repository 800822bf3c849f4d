import { afterEach, describe, expect, it, vi } from "vitest";
import type { HeartbeatMessage } from "../../../host/consensus/core/messages.js";
import type { Connector } from "../../../host/consensus/transport/tcp/connector.js";
import { plainConnector } from "../../../host/consensus/transport/tcp/connector.js";
import type { Transport } from "../../../host/consensus/transport/transport.js";
import { CLUSTER_ID, introduce, type Node, RawPeer, startNode } from "./tcp-helpers.js";
import { transportContract } from "./transport.contract.js";

transportContract("TcpTransport", () => {
  const nodes = new Map<number, Node>();
  const closed = new Set<number>();
  return {
    async endpoint(replicaId): Promise<Transport> {
      const node = await startNode(replicaId);
      nodes.set(replicaId, node);
      introduce([...nodes.values()]);
      return {
        send: (message) => node.transport.send(message),
        onMessage: (handler) => node.transport.onMessage(handler),
        close: () => {
          closed.add(replicaId);
          node.transport.close();
        },
      };
    },
    async settle() {
      const open = [...nodes].filter(([id]) => !closed.has(id));
      await Promise.all(
        open.flatMap(([id, node]) =>
          open.filter(([peer]) => peer !== id).map(([peer]) => node.transport.barrier(peer)),
        ),
      );
    },
    dispose() {
      for (const node of nodes.values()) {
        node.transport.close();
      }
    },
  };
});

/** Waits for a condition; generous, because the machine running the tests may be loaded. */
const until = (check: () => void): Promise<void> =>
  vi.waitFor(check, { timeout: 20_000, interval: 5 });

const heartbeat = (from: number, to: number, commitIndex: number): HeartbeatMessage => ({
  type: "heartbeat",
  from,
  to,
  ballot: 1025,
  commitIndex,
});

describe("TcpTransport", () => {
  const nodes: Node[] = [];
  const raws: RawPeer[] = [];
  const node = async (...args: Parameters<typeof startNode>): Promise<Node> => {
    const started = await startNode(...args);
    nodes.push(started);
    return started;
  };
  const raw = async (address: Node["address"]): Promise<RawPeer> => {
    const peer = await RawPeer.connect(address);
    raws.push(peer);
    return peer;
  };
  afterEach(() => {
    for (const started of nodes.splice(0)) {
      started.transport.close();
    }
    for (const peer of raws.splice(0)) {
      peer.close();
    }
  });

  it("reconnects after the accepting peer restarts on the same port", async () => {
    const one = await node(1);
    const two = await node(2);
    introduce([one, two]);
    one.transport.send(heartbeat(1, 2, 1));
    await one.transport.barrier(2);
    expect(two.received).toEqual([heartbeat(1, 2, 1)]);
    two.transport.close();
    const again = await node(2, { listen: two.address });
    introduce([one, again]);
    // Messages sent while the old connection is dying may be lost (the contract allows it), so
    // wait for the new connection before sending.
    await until(() =>
      expect(one.transport.stats().peers[2]).toMatchObject({ connected: true, reconnects: 1 }),
    );
    one.transport.send(heartbeat(1, 2, 2));
    again.transport.send(heartbeat(2, 1, 3));
    await one.transport.barrier(2);
    await again.transport.barrier(1);
    expect(again.received).toEqual([heartbeat(1, 2, 2)]);
    expect(one.received).toEqual([heartbeat(2, 1, 3)]);
    const stats = one.transport.stats().peers[2];
    expect(stats?.reconnects).toBeGreaterThanOrEqual(1);
    expect(stats?.connected).toBe(true);
  });

  it("reconnects after the dialing peer restarts (the new connection replaces the old)", async () => {
    const one = await node(1);
    const two = await node(2);
    introduce([one, two]);
    await one.transport.barrier(2);
    one.transport.close();
    const again = await node(1, { listen: one.address });
    introduce([again, two]);
    await until(() =>
      expect(two.transport.stats().peers[1]).toMatchObject({ connected: true, reconnects: 1 }),
    );
    two.transport.send(heartbeat(2, 1, 9));
    await two.transport.barrier(1);
    expect(again.received).toEqual([heartbeat(2, 1, 9)]);
    expect(two.transport.stats().peers[1]?.reconnects).toBe(1);
  });

  it("refuses a node of another cluster at the handshake, with the reason logged on both sides", async () => {
    const two = await node(2);
    const stranger = await node(1, { clusterId: "other-cluster" });
    stranger.transport.setPeerAddress(2, two.address);
    stranger.transport.send(heartbeat(1, 2, 1));
    await until(() => {
      expect(two.logger.codes()).toContain("WrongCluster");
      expect(stranger.logger.codes()).toContain("WrongCluster");
    });
    expect(two.received).toEqual([]);
    expect(two.transport.stats().refusedInbound).toBeGreaterThanOrEqual(1);
    const reason = two.logger.entries.find((e) => e.fields.code === "WrongCluster")?.fields.reason;
    expect(reason).toBe(`peer is in cluster 'other-cluster', this node is in '${CLUSTER_ID}'`);
  });

  it("refuses a replica id that is not a member, and a dialer that should have waited", async () => {
    const two = await node(2);
    const unknown = await raw(two.address);
    unknown.sendControl({ kind: "hello", clusterId: CLUSTER_ID, from: 7, to: 2 });
    await until(() => expect(unknown.closed).toBe(true));
    expect(unknown.controls).toEqual([
      { kind: "refuse", code: "UnknownReplica", reason: "replica 7 is not a peer in this cluster" },
    ]);
    const higher = await raw(two.address);
    higher.sendControl({ kind: "hello", clusterId: CLUSTER_ID, from: 3, to: 2 });
    await until(() => expect(higher.closed).toBe(true));
    expect(higher.controls[0]).toMatchObject({ kind: "refuse", code: "WrongDialer" });
    expect(two.transport.stats().refusedInbound).toBe(2);
  });

  it("refuses a peer that is not the replica expected at that address", async () => {
    const one = await node(1);
    const three = await node(3);
    one.transport.setPeerAddress(2, three.address);
    one.transport.send(heartbeat(1, 2, 1));
    await until(() => expect(one.logger.codes()).toContain("WrongReplica"));
    expect(three.received).toEqual([]);
    expect(one.transport.stats().peers[2]?.connected).toBe(false);
  });

  it("refuses a peer whose authenticated identity is not the replica it claims", async () => {
    // The TLS seam: a connector that authenticated every remote end as n3.
    const asThree: Connector = { ...plainConnector, peerIdentity: () => ["n3"] };
    const two = await node(2, { connector: asThree });
    const one = await node(1);
    one.transport.setPeerAddress(2, two.address);
    one.transport.send(heartbeat(1, 2, 1));
    await until(() => expect(two.logger.codes()).toContain("IdentityMismatch"));
    expect(two.received).toEqual([]);
    const three = await node(3);
    two.transport.setPeerAddress(3, three.address);
    two.transport.send(heartbeat(2, 3, 1));
    await two.transport.barrier(3);
    expect(three.received).toEqual([heartbeat(2, 3, 1)]);
  });

  it("delivers no message from a peer before its handshake", async () => {
    const two = await node(2);
    const early = await raw(two.address);
    early.sendMessage(heartbeat(1, 2, 1));
    early.sendControl({ kind: "hello", clusterId: CLUSTER_ID, from: 1, to: 2 });
    await until(() => expect(early.closed).toBe(true));
    expect(early.controls[0]).toMatchObject({ kind: "refuse", code: "Malformed" });
    expect(two.received).toEqual([]);
  });

  it("drops messages whose sender is not the handshaked peer; counts rejected frames", async () => {
    const two = await node(2);
    const peer = await raw(two.address);
    peer.sendControl({ kind: "hello", clusterId: CLUSTER_ID, from: 1, to: 2 });
    await until(() => expect(peer.controls[0]).toMatchObject({ kind: "welcome" }));
    peer.sendMessage(heartbeat(3, 2, 1));
    peer.sendMessage({ ...heartbeat(1, 2, 2), to: 3 });
    peer.sendBytes(Uint8Array.of(11, 0, 0, 0, 0xc7, 1, 0, 0, 0, 0, 8, 0, 0, 0, 0));
    peer.sendMessage(heartbeat(1, 2, 4));
    peer.sendControl({ kind: "ping", sequence: 1 });
    await until(() => expect(peer.controls).toContainEqual({ kind: "pong", sequence: 1 }));
    expect(two.received).toEqual([heartbeat(1, 2, 4)]);
    const stats = two.transport.stats().peers[1];
    expect(stats?.droppedMisaddressed).toBe(2);
    expect(stats?.decodeRejections).toBe(1);
    expect(stats?.decodeRejectionsByCode).toEqual({ WrongCluster: 1 });
    expect(peer.closed).toBe(false);
  });

  it("disconnects a peer that sends a giant length prefix, before or after the handshake", async () => {
    const two = await node(2);
    const before = await raw(two.address);
    before.sendBytes(Uint8Array.of(0xf0, 0xff, 0xff, 0xff));
    await until(() => expect(before.closed).toBe(true));
    expect(before.controls[0]).toMatchObject({ kind: "refuse", code: "Malformed" });
    const after = await raw(two.address);
    after.sendControl({ kind: "hello", clusterId: CLUSTER_ID, from: 1, to: 2 });
    await until(() => expect(after.controls[0]).toMatchObject({ kind: "welcome" }));
    after.sendBytes(Uint8Array.of(0xf0, 0xff, 0xff, 0xff, 0xc7, 1));
    await until(() => expect(after.closed).toBe(true));
    expect(two.transport.stats().peers[1]?.decodeRejectionsByCode).toEqual({ LimitExceeded: 1 });
    expect(two.received).toEqual([]);
  });

  it("bounds each peer's send queue and counts what it drops", async () => {
    const one = await node(1, { maxQueuedFramesPerPeer: 5 });
    for (let i = 0; i < 12; i += 1) {
      one.transport.send(heartbeat(1, 2, i));
    }
    one.transport.send(heartbeat(1, 9, 0));
    const stats = one.transport.stats();
    expect(stats.peers[2]).toMatchObject({
      queuedFrames: 5,
      droppedQueueFull: 7,
      connected: false,
    });
    expect(stats.droppedUnknownPeer).toBe(1);
    const two = await node(2);
    introduce([one, two]);
    await until(() => expect(two.received).toHaveLength(5));
    expect(two.received.map((m) => (m.type === "heartbeat" ? m.commitIndex : -1))).toEqual([
      0, 1, 2, 3, 4,
    ]);
  });

  it("bounds queued bytes too, and counts messages it cannot encode", async () => {
    const one = await node(1, { maxQueuedBytesPerPeer: 100 });
    for (let i = 0; i < 10; i += 1) {
      one.transport.send(heartbeat(1, 2, i));
    }
    one.transport.send({ ...heartbeat(1, 3, 0), commitIndex: -1 });
    const stats = one.transport.stats();
    expect(stats.peers[2]?.queuedBytes).toBeLessThan(100 + 40);
    expect(stats.peers[2]?.droppedQueueFull).toBeGreaterThan(0);
    expect(stats.peers[3]?.droppedUnencodable).toBe(1);
  });

  it("counts bytes and frames per peer and batches a turn's messages into one write", async () => {
    const one = await node(1);
    const two = await node(2);
    introduce([one, two]);
    await one.transport.barrier(2);
    const before = one.transport.stats().peers[2];
    for (let i = 0; i < 100; i += 1) {
      one.transport.send(heartbeat(1, 2, i));
    }
    await one.transport.barrier(2);
    const after = one.transport.stats().peers[2];
    expect((after?.framesSent ?? 0) - (before?.framesSent ?? 0)).toBe(101);
    expect(two.received).toHaveLength(100);
    const received = two.transport.stats().peers[1];
    expect(received?.framesReceived).toBe(after?.framesSent);
    expect(received?.bytesReceived).toBe(after?.bytesSent);
  });

  it("keeps a healthy connection with pings and closes one on which the peer went silent", async () => {
    // Generous idle timeout for the healthy pair (a loaded machine may stall), short for the
    // silent peer.
    const healthy = { keepaliveIntervalMs: 10, idleTimeoutMs: 10_000 };
    const one = await node(1, healthy);
    const two = await node(2, healthy);
    introduce([one, two]);
    await until(() => expect(two.transport.stats().peers[1]?.framesReceived).toBeGreaterThan(40));
    expect(one.transport.stats().peers[2]).toMatchObject({ connected: true, connects: 1 });
    const three = await node(3, { keepaliveIntervalMs: 10, idleTimeoutMs: 150 });
    const silent = await raw(three.address);
    silent.sendControl({ kind: "hello", clusterId: CLUSTER_ID, from: 1, to: 3 });
    await until(() => expect(silent.closed).toBe(true));
    expect(silent.controls.filter((c) => c.kind === "ping").length).toBeGreaterThan(0);
    expect(three.logger.entries.map((e) => e.message)).toContain(
      "consensus peer silent; reconnecting",
    );
  });

  it("close() leaves no socket, server or timer behind, even with dials and handshakes pending", async () => {
    const count = () => {
      const kinds = process.getActiveResourcesInfo();
      return ["TCPWRAP", "TCPServerWrap", "Timeout", "Immediate"].map(
        (kind) => kinds.filter((k) => k === kind).length,
      );
    };
    // Sockets and servers close asynchronously; timers are compared once they are all gone
    // (outside `until`, which has timers of its own).
    const quiet = async () => {
      await until(() => expect(count().slice(0, 2)).toEqual([0, 0]));
      await new Promise((resolve) => setImmediate(resolve));
      return count();
    };
    const before = await quiet();
    const fast = { keepaliveIntervalMs: 10 };
    const one = await startNode(1, fast);
    const two = await startNode(2, fast);
    introduce([one, two]);
    await one.transport.barrier(2);
    // A peer that never answers dials, and a raw connection in the middle of its handshake.
    const three = await startNode(3, fast);
    one.transport.setPeerAddress(3, { host: "127.0.0.1", port: 1 });
    const pending = await RawPeer.connect(two.address);
    for (const node of [one, two, three]) {
      node.transport.close();
    }
    pending.close();
    // Nothing this test opened is left (earlier tests' timers may expire meanwhile: at most).
    const after = await quiet();
    after.forEach((active, kind) => {
      expect(active).toBeLessThanOrEqual(before[kind] as number);
    });
  });

  it("close() aborts a dial in progress", async () => {
    const signals: AbortSignal[] = [];
    const hanging: Connector = {
      ...plainConnector,
      connect: (_address, _nodeId, _timeoutMs, signal) => {
        signals.push(signal);
        return new Promise((_resolve, reject) => {
          signal.addEventListener("abort", () => reject(new Error("aborted")));
        });
      },
    };
    const one = await node(1, { connector: hanging });
    one.transport.setPeerAddress(2, { host: "127.0.0.1", port: 1 });
    expect(signals.map((signal) => signal.aborted)).toEqual([false]);
    one.transport.close();
    expect(signals.map((signal) => signal.aborted)).toEqual([true]);
    expect(one.transport.stats().peers[2]?.dialAttempts).toBe(1);
  });

  it("the plain connector gives up a connect when its signal aborts", async () => {
    const two = await node(2);
    const controller = new AbortController();
    const connecting = plainConnector.connect(two.address, "n2", 60_000, controller.signal);
    controller.abort();
    await expect(connecting).rejects.toThrow("transport closed");
    const aborted = plainConnector.connect(two.address, "n2", 60_000, controller.signal);
    await expect(aborted).rejects.toThrow("transport closed");
  });

  it("close() releases sockets and timers: the port is free and nothing more arrives", async () => {
    const one = await node(1);
    const two = await node(2);
    introduce([one, two]);
    await one.transport.barrier(2);
    two.transport.close();
    one.transport.close();
    const reopened = await node(2, { listen: two.address });
    expect(reopened.address.port).toBe(two.address.port);
    expect(two.transport.stats().peers[1]?.connected).toBe(false);
  });
});
