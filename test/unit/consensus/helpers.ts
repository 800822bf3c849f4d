import type { ClusterConfig } from "../../../host/consensus/core/config.js";
import { MultiPaxosEngine } from "../../../host/consensus/engine/multi-paxos-engine.js";
import { seededRng } from "../../../host/consensus/engine/rng.js";
import { ManualTickSource } from "../../../host/consensus/engine/tick-source.js";
import type { StateMachine } from "../../../host/consensus/statemachine.js";
import { MemoryStorage } from "../../../host/consensus/storage/memory.js";
import { MemoryNetwork } from "../../../host/consensus/transport/memory.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A state machine that appends every command to a list and returns the list's new length. */
export class AppendLog implements StateMachine {
  items: string[] = [];

  apply(command: Uint8Array): Uint8Array {
    this.items.push(decoder.decode(command));
    return encoder.encode(String(this.items.length));
  }

  snapshot(): Uint8Array {
    return encoder.encode(JSON.stringify(this.items));
  }

  restore(snapshot: Uint8Array): void {
    this.items = JSON.parse(decoder.decode(snapshot)) as string[];
  }
}

/** UTF-8 bytes of `text`. */
export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** The text of UTF-8 `data`. */
export function text(data: Uint8Array): string {
  return decoder.decode(data);
}

/** A cluster config of `size` nodes named n1..nN with replica ids 1..N. */
export function clusterConfig(size: number): ClusterConfig {
  return {
    members: Array.from({ length: size }, (_, i) => ({ nodeId: `n${i + 1}`, replicaId: i + 1 })),
  };
}

/** Engines over a reliable manual network, ticked by hand. */
export class ManualCluster {
  readonly network = new MemoryNetwork("manual");
  readonly engines: MultiPaxosEngine[] = [];
  readonly machines: AppendLog[] = [];
  readonly ticks: ManualTickSource[] = [];

  readonly storages: MemoryStorage[] = [];
  private readonly config: ClusterConfig;
  private readonly seed: number;

  constructor(size: number, seed = 1) {
    this.config = clusterConfig(size);
    this.seed = seed;
    for (let i = 0; i < size; i += 1) {
      this.storages.push(new MemoryStorage());
      this.machines.push(new AppendLog());
      this.ticks.push(new ManualTickSource());
      this.engines.push(this.makeEngine(i));
    }
  }

  private makeEngine(position: number): MultiPaxosEngine {
    const member = this.config.members[position];
    const storage = this.storages[position];
    const machine = this.machines[position];
    const tickSource = this.ticks[position];
    if (!member || !storage || !machine || !tickSource) {
      throw new Error(`no member at ${position}`);
    }
    return new MultiPaxosEngine({
      nodeId: member.nodeId,
      config: this.config,
      storage,
      transport: this.network.endpoint(member.replicaId),
      stateMachine: machine,
      rng: seededRng(this.seed * 100 + member.replicaId),
      tickSource,
      coreOptions: { electionTimeoutTicks: 10, heartbeatIntervalTicks: 2 },
      snapshotIntervalSlots: 4,
      retainSlots: 1,
      schedule: (flush) => flush(),
    });
  }

  /** Stops the engine at `position` and starts a new one on the same storage. */
  async restart(position: number): Promise<MultiPaxosEngine> {
    await this.engines[position]?.stop();
    this.machines[position] = new AppendLog();
    this.ticks[position] = new ManualTickSource();
    const engine = this.makeEngine(position);
    this.engines[position] = engine;
    await engine.start();
    return engine;
  }

  async start(): Promise<void> {
    for (const engine of this.engines) {
      await engine.start();
    }
  }

  /**
   * Ticks every node once, then lets storage writes complete and delivers messages until the
   * cluster is quiet; repeats `count` times.
   */
  async run(count: number): Promise<void> {
    for (let i = 0; i < count; i += 1) {
      for (const tick of this.ticks) {
        tick.tick();
      }
      await this.quiesce();
    }
  }

  /** Delivers messages and lets writes complete until nothing is in flight. */
  async quiesce(): Promise<void> {
    for (let round = 0; round < 1000; round += 1) {
      await settled();
      if (this.network.deliverAll(100_000) === 0) {
        await settled();
        if (this.network.queuedMessages() === 0) {
          return;
        }
      }
    }
  }

  /** Runs until some node leads (at most `maxTicks`). */
  async electLeader(maxTicks = 200): Promise<MultiPaxosEngine> {
    for (let i = 0; i < maxTicks; i += 1) {
      const leader = this.engines.find((engine) => engine.isLeader());
      if (leader !== undefined) {
        return leader;
      }
      await this.run(1);
    }
    throw new Error("no leader elected");
  }
}

/** Resolves after every promise reaction already queued (and those they queue) has run. */
export function settled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
