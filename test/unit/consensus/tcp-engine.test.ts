import { afterEach, describe, expect, it, vi } from "vitest";
import { MultiPaxosEngine } from "../../../host/consensus/engine/multi-paxos-engine.js";
import { seededRng } from "../../../host/consensus/engine/rng.js";
import { IntervalTickSource } from "../../../host/consensus/engine/tick-source.js";
import { MemoryStorage } from "../../../host/consensus/storage/memory.js";
import { AppendLog, bytes } from "./helpers.js";
import { CONFIG, introduce, type Node, startNode } from "./tcp-helpers.js";

const until = (check: () => void): Promise<void> =>
  vi.waitFor(check, { timeout: 30_000, interval: 10 });

describe("MultiPaxosEngine over TcpTransport", () => {
  const engines: MultiPaxosEngine[] = [];
  afterEach(async () => {
    for (const engine of engines.splice(0)) {
      await engine.stop();
    }
  });

  it("three replicas elect a leader, commit concurrent proposals and agree", async () => {
    const nodes: Node[] = [];
    for (const member of CONFIG.members) {
      nodes.push(await startNode(member.replicaId));
    }
    introduce(nodes);
    const machines = nodes.map(() => new AppendLog());
    nodes.forEach((node, i) => {
      const engine = new MultiPaxosEngine({
        nodeId: `n${node.replicaId}`,
        config: CONFIG,
        storage: new MemoryStorage(),
        transport: node.transport,
        stateMachine: machines[i] as AppendLog,
        rng: seededRng(node.replicaId),
        tickSource: new IntervalTickSource(5),
      });
      engines.push(engine);
    });
    for (const engine of engines) {
      await engine.start();
    }
    let leader: MultiPaxosEngine | undefined;
    await until(() => {
      leader = engines.find((engine) => engine.isLeader());
      expect(leader).toBeDefined();
    });
    const proposals = Array.from({ length: 300 }, (_, i) =>
      (leader as MultiPaxosEngine).propose(bytes(`command-${i}`), {
        clientId: `client-${i}`,
        requestId: 1,
      }),
    );
    await Promise.all(proposals);
    await until(() => {
      for (const machine of machines) {
        expect(machine.items).toHaveLength(300);
      }
    });
    expect(machines[1]?.items).toEqual(machines[0]?.items);
    expect(machines[2]?.items).toEqual(machines[0]?.items);
    for (const node of nodes) {
      const peers = Object.values(node.transport.stats().peers);
      expect(peers.every((peer) => peer.decodeRejections === 0 && peer.connected)).toBe(true);
    }
  });
});
