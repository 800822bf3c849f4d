import type { ClusterConfig } from "../../../host/consensus/core/config.js";
import type { ConsensusError } from "../../../host/consensus/core/errors.js";
import { MultiPaxosEngine } from "../../../host/consensus/engine/multi-paxos-engine.js";
import { seededRng } from "../../../host/consensus/engine/rng.js";
import { ManualTickSource } from "../../../host/consensus/engine/tick-source.js";
import { MemoryStorage } from "../../../host/consensus/storage/memory.js";
import { MemoryNetwork } from "../../../host/consensus/transport/memory.js";
import { type ConsoleMachine, createConsoleMachine } from "../../../host/replication/index.js";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import { InlineEngine } from "../../../host/runtime/inline-engine.js";
import { Registry } from "../../../host/runtime/registry.js";
import { clusterConfig, settled } from "../consensus/helpers.js";

/** One node: its registry (driven by the manifest), runtime, console machine and engine. */
export interface ConsoleNode {
  readonly registry: Registry;
  readonly console: ConsoleMachine;
  readonly engine: MultiPaxosEngine;
  readonly ticks: ManualTickSource;
  halted?: ConsensusError;
}

/**
 * Console replicas over the in-memory Multi-Paxos engine, a manual network and manual ticks:
 * deterministic, nothing runs unless the test pumps it.
 */
export class ConsoleCluster {
  readonly network = new MemoryNetwork("manual");
  readonly nodes: ConsoleNode[] = [];
  private readonly config: ClusterConfig;

  constructor(size: number, seed = 1) {
    this.config = clusterConfig(size);
    for (const member of this.config.members) {
      const registry = new Registry({ evictOldBuilds: false });
      const console = createConsoleMachine({
        registry,
        runtime: new InlineEngine(new CartridgeEngine(registry)),
      });
      const ticks = new ManualTickSource();
      const node: ConsoleNode = {
        registry,
        console,
        ticks,
        engine: new MultiPaxosEngine({
          nodeId: member.nodeId,
          config: this.config,
          storage: new MemoryStorage(),
          transport: this.network.endpoint(member.replicaId),
          stateMachine: console.machine,
          rng: seededRng(seed * 100 + member.replicaId),
          tickSource: ticks,
          coreOptions: { electionTimeoutTicks: 10, heartbeatIntervalTicks: 2 },
          schedule: (flush) => flush(),
          hooks: {
            onHalt: (error) => {
              node.halted = error;
            },
          },
        }),
      };
      this.nodes.push(node);
    }
  }

  async start(): Promise<void> {
    for (const node of this.nodes) await node.engine.start();
  }

  async stop(): Promise<void> {
    for (const node of this.nodes) await node.engine.stop();
  }

  /** Ticks every node once, then delivers messages until the network is quiet; `count` times. */
  async run(count = 1): Promise<void> {
    for (let i = 0; i < count; i += 1) {
      for (const node of this.nodes) node.ticks.tick();
      for (let round = 0; round < 1000; round += 1) {
        await settled();
        if (this.network.deliverAll(100_000) === 0) {
          await settled();
          if (this.network.queuedMessages() === 0) break;
        }
      }
    }
  }

  async electLeader(maxTicks = 200): Promise<ConsoleNode> {
    for (let i = 0; i < maxTicks; i += 1) {
      const leader = this.nodes.find((node) => node.engine.isLeader());
      if (leader !== undefined) return leader;
      await this.run();
    }
    throw new Error("no leader elected");
  }

  /**
   * Delivers messages until `done()` holds, ticking only when the network is quiet and no node
   * has an apply in flight: logical time does not pass while a replica waits for the compiler
   * (an install loads a module off the main thread), so no election is caused by a slow apply.
   */
  private async pump(done: () => boolean, what: string, maxRounds = 20_000): Promise<void> {
    for (let round = 0; round < maxRounds; round += 1) {
      if (done()) return;
      await settled();
      if (this.network.deliverAll(100_000) > 0) continue;
      if (this.nodes.every((node) => this.idle(node))) {
        for (const node of this.nodes) node.ticks.tick();
      } else {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
    throw new Error(`${what} not reached within ${maxRounds} rounds`);
  }

  private idle(node: ConsoleNode): boolean {
    // The core's applied index moves only once the driver applied a whole batch of slots.
    const status = node.engine.status();
    return node.halted !== undefined || (status?.appliedIndex ?? 0) >= (status?.commitIndex ?? 0);
  }

  /** Pumps the cluster until `work` settles. */
  async until<T>(work: Promise<T>): Promise<T> {
    let done = false;
    const tracked = work.finally(() => {
      done = true;
    });
    tracked.catch(() => undefined);
    await this.pump(() => done, "the proposal's outcome");
    return tracked;
  }

  /**
   * Pumps until every node that has not halted applied the command in slot `index` completely.
   * The running hash moves only once a command's (possibly asynchronous) apply finished, whereas
   * the engine's applied index already counts a slot whose apply is still pending.
   */
  async appliedEverywhere(index: number): Promise<void> {
    await this.pump(
      () =>
        this.nodes
          .filter((node) => node.halted === undefined)
          .every((node) => node.console.checkpoint.status().hashedIndex >= index),
      `slot ${index} everywhere`,
    );
  }
}
