import type { ClusterConfig, CoreOptions } from "../../../host/consensus/core/config.js";
import type { Snapshot } from "../../../host/consensus/core/entry.js";
import { ConsensusError } from "../../../host/consensus/core/errors.js";
import type { Message } from "../../../host/consensus/core/messages.js";
import { MultiPaxosEngine } from "../../../host/consensus/engine/multi-paxos-engine.js";
import { seededRng } from "../../../host/consensus/engine/rng.js";
import { ManualTickSource } from "../../../host/consensus/engine/tick-source.js";
import type { StateMachine } from "../../../host/consensus/statemachine.js";
import { MemoryStorage } from "../../../host/consensus/storage/memory.js";
import type {
  ConsensusStorage,
  PersistBatch,
  PersistedState,
} from "../../../host/consensus/storage/storage.js";
import { MemoryNetwork } from "../../../host/consensus/transport/memory.js";
import type { Transport } from "../../../host/consensus/transport/transport.js";

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

/**
 * Memory storage a test can make fail (every write rejects with `StorageFailure`) or hold (writes
 * wait until released), to drive the engine's failure and in-flight paths deterministically.
 */
export class ControlledStorage implements ConsensusStorage {
  private readonly inner = new MemoryStorage();
  private failing = false;
  private holding = false;
  private held: (() => void)[] = [];
  /** Writes that reached the disk. */
  writes = 0;

  /** Every later write rejects with `StorageFailure` (a full disk, a failed fsync). */
  failWrites(): void {
    this.failing = true;
  }

  /** Later writes wait until `releaseWrites()`. */
  holdWrites(): void {
    this.holding = true;
  }

  releaseWrites(): void {
    this.holding = false;
    const held = this.held;
    this.held = [];
    for (const release of held) {
      release();
    }
  }

  /** Writes waiting to be released. */
  heldWrites(): number {
    return this.held.length;
  }

  load(): Promise<PersistedState> {
    return this.inner.load();
  }

  async persist(batch: PersistBatch): Promise<void> {
    await this.gate();
    await this.inner.persist(batch);
    this.writes += 1;
  }

  async compact(snapshot: Snapshot, compactThroughIndex: number): Promise<void> {
    await this.gate();
    await this.inner.compact(snapshot, compactThroughIndex);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** What a load would return, synchronously. */
  peek(): PersistedState {
    return this.inner.peek();
  }

  private async gate(): Promise<void> {
    if (this.holding) {
      await new Promise<void>((resolve) => this.held.push(resolve));
    }
    if (this.failing) {
      throw new ConsensusError("StorageFailure", "injected write failure");
    }
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

  readonly storages: ControlledStorage[] = [];
  private readonly config: ClusterConfig;
  private readonly seed: number;
  private readonly coreOptions: Partial<CoreOptions>;
  /** Messages for which this returns true are dropped when sent (a cut link). */
  cut: (message: Message) => boolean = () => false;

  constructor(size: number, seed = 1, coreOptions: Partial<CoreOptions> = {}) {
    this.coreOptions = coreOptions;
    this.config = clusterConfig(size);
    this.seed = seed;
    for (let i = 0; i < size; i += 1) {
      this.storages.push(new ControlledStorage());
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
      transport: this.cuttable(this.network.endpoint(member.replicaId)),
      stateMachine: machine,
      rng: seededRng(this.seed * 100 + member.replicaId),
      tickSource,
      coreOptions: { electionTimeoutTicks: 10, heartbeatIntervalTicks: 2, ...this.coreOptions },
      snapshotIntervalSlots: 4,
      retainSlots: 1,
      schedule: (flush) => flush(),
    });
  }

  /** The endpoint, dropping what `cut` selects. */
  private cuttable(inner: Transport): Transport {
    return {
      send: (message) => {
        if (!this.cut(message)) {
          inner.send(message);
        }
      },
      onMessage: (handler) => inner.onMessage(handler),
      close: () => inner.close(),
    };
  }

  /** Stops every engine and starts new ones on the same storages (a full-cluster restart). */
  async restartAll(): Promise<void> {
    for (let position = 0; position < this.engines.length; position += 1) {
      await this.engines[position]?.stop();
      this.machines[position] = new AppendLog();
      this.ticks[position] = new ManualTickSource();
      this.engines[position] = this.makeEngine(position);
    }
    await this.start();
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
