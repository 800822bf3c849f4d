import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineClient } from "../../host/client/index.js";
import { MultiPaxosEngine } from "../../host/consensus/engine/multi-paxos-engine.js";
import { seededRng } from "../../host/consensus/engine/rng.js";
import { IntervalTickSource } from "../../host/consensus/engine/tick-source.js";
import { MemoryStorage } from "../../host/consensus/storage/memory.js";
import { MemoryNetwork } from "../../host/consensus/transport/memory.js";
import { ReplicatedConsole } from "../../host/replication/console.js";
import { createConsoleMachine } from "../../host/replication/console-machine.js";
import type { SessionsPart } from "../../host/replication/sessions/session-part.js";
import { createEngine, InlineEngine, loadDirectory } from "../../host/runtime/index.js";
import { createConsoleServices } from "../../host/server/console-services.js";
import { ServerMetrics } from "../../host/server/metrics.js";
import { type RunningServer, startServer } from "../../host/server/server.js";
import { BUNDLED_CARTRIDGES } from "./harness.js";

/** One node of an in-process 3-replica cluster: consensus, console, and a gRPC server. */
interface Node {
  readonly nodeId: string;
  readonly engine: MultiPaxosEngine;
  readonly console: ReplicatedConsole;
  readonly sessions: SessionsPart;
  readonly server: RunningServer;
  close(): Promise<void>;
}

const TICK_MS = 10;

/**
 * Three replicas of the console over the in-memory network (real timers: 10 ms ticks, elections
 * after 200-400 ms), each serving the Engine and Sessions services on its own port. A follower
 * does not forward: it names the leader, so the client must find it by itself.
 */
async function startCluster(): Promise<Node[]> {
  const network = new MemoryNetwork("immediate");
  const config = {
    members: [1, 2, 3].map((replicaId) => ({ nodeId: `n${replicaId}`, replicaId })),
  };
  const addresses = new Map<string, string>();
  const nodes: Node[] = [];
  for (const member of config.members) {
    const { engine: cartridges, registry } = createEngine({ evictOldBuilds: false });
    await loadDirectory(registry, BUNDLED_CARTRIDGES);
    const runtime = new InlineEngine(cartridges);
    const { machine, sessions } = createConsoleMachine({ registry, runtime });
    const engine = new MultiPaxosEngine({
      nodeId: member.nodeId,
      config,
      storage: new MemoryStorage(),
      transport: network.endpoint(member.replicaId),
      stateMachine: machine,
      rng: seededRng(member.replicaId),
      tickSource: new IntervalTickSource(TICK_MS),
    });
    await engine.start();
    const console = new ReplicatedConsole({ consensus: engine, sessions, runtime });
    const metrics = new ServerMetrics({ collectProcessMetrics: false });
    const logger = pino({ level: "silent" });
    const services = createConsoleServices({
      console,
      authenticated: false,
      leadership: {
        isLeader: () => engine.isLeader(),
        status: () => {
          const leaderId = engine.leaderId();
          return {
            nodeId: member.nodeId,
            leaderId,
            leaderAddress: leaderId === undefined ? undefined : addresses.get(leaderId),
          };
        },
      },
      deps: { logger, metrics },
      forwarding: { forward: false, forwardTimeoutMs: 2000 },
    });
    const server = await startServer({
      engine: runtime,
      metrics,
      logger,
      services: services.services,
    });
    addresses.set(member.nodeId, server.address);
    let closed: Promise<void> | undefined;
    nodes.push({
      nodeId: member.nodeId,
      engine,
      console,
      sessions,
      server,
      close: () => {
        closed ??= (async () => {
          await server.shutdown(0);
          services.close();
          console.close();
          await engine.stop();
        })();
        return closed;
      },
    });
  }
  return nodes;
}

async function leaderOf(nodes: readonly Node[]): Promise<Node> {
  for (let attempt = 0; attempt < 500; attempt += 1) {
    const leader = nodes.find((node) => node.engine.isLeader());
    if (leader !== undefined) return leader;
    await new Promise((resolve) => setTimeout(resolve, TICK_MS));
  }
  throw new Error("no leader was elected");
}

describe("a session across a failover of its leader", () => {
  let nodes: Node[];
  let client: EngineClient;

  beforeAll(async () => {
    nodes = await startCluster();
    const first = nodes[0];
    if (first === undefined) throw new Error("no node");
    client = await EngineClient.connect(first.server.address, {
      endpoints: nodes.map((node) => node.server.address),
      failoverTimeoutMs: 20_000,
    });
  });

  afterAll(async () => {
    client?.close();
    await Promise.all((nodes ?? []).map((node) => node.close()));
  });

  it("continues on the new leader with every acknowledged step kept", async () => {
    const oldLeader = await leaderOf(nodes);
    const session = await client.session("connect4-v1", { seed: 11 });
    const actions = [3, 3, 2, 4];
    for (const action of actions.slice(0, 2)) await session.step(action);

    await oldLeader.close();
    // The client learns nothing of this: its next steps pause until a new leader answers.
    for (const action of actions.slice(2)) await session.step(action);
    const newLeader = await leaderOf(nodes.filter((node) => node !== oldLeader));
    expect(newLeader).not.toBe(oldLeader);

    const info = await session.get();
    expect(info.step).toBe(actions.length);
    const exported = await session.export();
    expect(exported.actions.map((a) => Buffer.from(a).readUInt32LE(0))).toEqual(actions);
    // Every surviving replica holds the same session state.
    for (const node of nodes.filter((n) => n !== oldLeader)) {
      await node.engine.waitForCommit(newLeader.engine.lastAppliedIndex());
      expect(Buffer.from(node.sessions.get(session.id)?.state ?? []).equals(info.state)).toBe(true);
    }
    await session.close();
  }, 60_000);
});
