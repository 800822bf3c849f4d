import { type CoreOptions, DEFAULT_CORE_OPTIONS } from "../../host/consensus/core/config.js";
import type { Entry } from "../../host/consensus/core/entry.js";
import type { Message } from "../../host/consensus/core/messages.js";
import { Replica, type Role } from "../../host/consensus/core/replica.js";
import { MemoryStore } from "../../host/consensus/storage/memory.js";
import { valueKey } from "./cluster.js";
import { SimRandom } from "./random.js";
import { formatMessage } from "./trace.js";

/** Selects messages in flight, e.g. `{ type: "accept", to: 2 }`. */
export interface MessageFilter {
  readonly type?: Message["type"];
  readonly from?: number;
  readonly to?: number;
  /** Only messages between two replicas of this set. */
  readonly among?: ReadonlySet<number>;
  /** Only messages this predicate holds for. */
  readonly where?: (message: Message) => boolean;
}

/** The messages of an election (pre-vote and phase 1). */
const ELECTION_TYPES: ReadonlySet<Message["type"]> = new Set([
  "preVote",
  "preVoteReply",
  "prepare",
  "promise",
]);

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function matches(message: Message, filter: MessageFilter): boolean {
  return (
    (filter.type === undefined || message.type === filter.type) &&
    (filter.from === undefined || message.from === filter.from) &&
    (filter.to === undefined || message.to === filter.to) &&
    (filter.among === undefined ||
      (filter.among.has(message.from) && filter.among.has(message.to))) &&
    (filter.where === undefined || filter.where(message))
  );
}

/**
 * Bare replicas (cores) wired by hand, for scripted scenarios: the script decides which
 * messages are delivered or dropped, who ticks, who crashes. It plays the driver faithfully:
 * persist, then queue messages, then apply. Applied slots are checked against each other: any
 * slot applied with two different values throws.
 */
export class ScriptedCluster {
  readonly ids: readonly number[];
  private readonly replicas = new Map<number, Replica | undefined>();
  private readonly storages = new Map<number, MemoryStore>();
  private readonly appliedValues = new Map<number, string[]>();
  private readonly chosen = new Map<number, string>();
  private readonly random: SimRandom;
  private readonly options: CoreOptions;
  private inFlight: Message[] = [];
  private requestId = 0;
  /** How many messages of each type were delivered. */
  readonly deliveredByType = new Map<Message["type"], number>();
  /** While true, delivered messages and script events are recorded in `trace()`. */
  tracing = false;
  private readonly traceLines: string[] = [];

  constructor(size: number, seed = 1, options: Partial<CoreOptions> = {}) {
    this.random = new SimRandom(seed);
    this.options = {
      ...DEFAULT_CORE_OPTIONS,
      electionTimeoutTicks: 10,
      heartbeatIntervalTicks: 2,
      ...options,
    };
    this.ids = Array.from({ length: size }, (_, i) => i + 1);
    for (const id of this.ids) {
      this.storages.set(id, new MemoryStore());
      this.appliedValues.set(id, []);
      this.boot(id);
    }
  }

  private boot(id: number): void {
    const storage = this.storage(id);
    const persisted = storage.load();
    this.replicas.set(
      id,
      new Replica({
        config: { members: this.ids.map((replicaId) => ({ nodeId: `n${replicaId}`, replicaId })) },
        replicaId: id,
        options: this.options,
        rng: new SimRandom(this.random.fork()),
        hardState: persisted.hardState,
        snapshot: persisted.snapshot,
        compactedIndex: persisted.compactedIndex,
        entries: persisted.entries,
      }),
    );
    const snapshot = persisted.snapshot;
    this.appliedValues.set(
      id,
      snapshot === undefined ? [] : (JSON.parse(decoder.decode(snapshot.data)) as string[]),
    );
    this.process(id);
  }

  private storage(id: number): MemoryStore {
    const storage = this.storages.get(id);
    if (storage === undefined) {
      throw new Error(`no replica ${id}`);
    }
    return storage;
  }

  /** The running core of replica `id` (throws if crashed). */
  replica(id: number): Replica {
    const replica = this.replicas.get(id);
    if (replica === undefined) {
      throw new Error(`replica ${id} is down`);
    }
    return replica;
  }

  /** The role of replica `id`, or "down". */
  role(id: number): Role | "down" {
    return this.replicas.get(id)?.status().role ?? "down";
  }

  /** Values applied by replica `id`, by slot (index 0 is slot 1). */
  applied(id: number): readonly string[] {
    return this.appliedValues.get(id) ?? [];
  }

  /** The value chosen for `index` as far as any replica applied it. */
  chosenValue(index: number): string | undefined {
    return this.chosen.get(index);
  }

  /** Runs the Ready loop of replica `id`: persist, queue messages, apply, advance. */
  process(id: number): void {
    const replica = this.replicas.get(id);
    if (replica === undefined) {
      return;
    }
    for (let round = 0; round < 1000 && replica.hasReady(); round += 1) {
      const ready = replica.ready();
      this.storage(id).persist({
        hardState: ready.hardState,
        snapshot: ready.snapshot,
        entries: ready.entries,
      });
      this.inFlight.push(...ready.messages);
      if (ready.snapshot !== undefined) {
        this.appliedValues.set(id, JSON.parse(decoder.decode(ready.snapshot.data)) as string[]);
      }
      for (const entry of ready.committedEntries) {
        this.apply(id, entry);
      }
      replica.advance(ready);
    }
  }

  private apply(id: number, entry: Entry): void {
    const values = this.appliedValues.get(id) ?? [];
    if (entry.index !== values.length + 1) {
      throw new Error(`replica ${id} applied slot ${entry.index} after ${values.length}`);
    }
    const key = valueKey(entry.value);
    const known = this.chosen.get(entry.index);
    if (known !== undefined && known !== key) {
      throw new Error(`slot ${entry.index}: replica ${id} applied [${key}], chosen was [${known}]`);
    }
    this.chosen.set(entry.index, key);
    values.push(key);
    this.appliedValues.set(id, values);
  }

  /** Ticks the given replicas (default: all running) `count` times, processing after each. */
  tick(count = 1, ids: readonly number[] = this.ids): void {
    for (let i = 0; i < count; i += 1) {
      for (const id of ids) {
        this.replicas.get(id)?.tick();
        this.process(id);
      }
    }
  }

  /** Messages in flight that match `filter`. */
  pending(filter: MessageFilter = {}): Message[] {
    return this.inFlight.filter((message) => matches(message, filter));
  }

  /**
   * Delivers in-flight messages matching `filter` in send order, including matching replies
   * they cause, until none match (bounded). Returns how many were delivered.
   */
  deliver(filter: MessageFilter = {}, maxMessages = 10_000): number {
    let delivered = 0;
    while (delivered < maxMessages) {
      const index = this.inFlight.findIndex((message) => matches(message, filter));
      if (index < 0) {
        break;
      }
      const [message] = this.inFlight.splice(index, 1);
      if (message === undefined) {
        break;
      }
      delivered += 1;
      this.deliveredByType.set(message.type, (this.deliveredByType.get(message.type) ?? 0) + 1);
      this.record(formatMessage(message));
      const target = this.replicas.get(message.to);
      if (target !== undefined) {
        target.step(message);
        this.process(message.to);
      }
    }
    return delivered;
  }

  /** Removes in-flight messages matching `filter` and returns them, to deliver late by `inject`. */
  take(filter: MessageFilter): Message[] {
    const taken = this.pending(filter);
    this.inFlight = this.inFlight.filter((message) => !matches(message, filter));
    for (const message of taken) {
      this.record(`hold ${formatMessage(message)}`);
    }
    return taken;
  }

  /** Puts messages back in flight (after everything already in flight). */
  inject(messages: readonly Message[]): void {
    for (const message of messages) {
      this.record(`release ${formatMessage(message)}`);
    }
    this.inFlight.push(...messages);
  }

  /** Adds a comment line to the trace. */
  note(text: string): void {
    this.record(`# ${text}`);
  }

  /** The recorded trace (see `tracing`). */
  trace(): readonly string[] {
    return this.traceLines;
  }

  private record(line: string): void {
    if (this.tracing) {
      this.traceLines.push(line);
    }
  }

  /** Drops in-flight messages matching `filter`; returns how many. */
  drop(filter: MessageFilter): number {
    const before = this.inFlight.length;
    this.inFlight = this.inFlight.filter((message) => !matches(message, filter));
    return before - this.inFlight.length;
  }

  /** Proposes `text` at replica `id` as one command; returns the command's value key. */
  propose(id: number, text: string): string {
    this.requestId += 1;
    const command = { clientId: text, requestId: this.requestId, payload: encoder.encode(text) };
    this.replica(id).propose([command]);
    const key = `${command.clientId}#${command.requestId}`;
    this.record(`propose ${id} ${key}`);
    this.process(id);
    return key;
  }

  /** Crashes replica `id`: it loses its memory and the messages in flight to it. */
  crash(id: number): void {
    this.record(`crash ${id}`);
    this.replicas.set(id, undefined);
    this.drop({ to: id });
  }

  /** Restarts replica `id` from what it persisted. */
  restart(id: number): void {
    this.record(`restart ${id}`);
    this.boot(id);
  }

  /**
   * Takes a snapshot of replica `id` at `index` (default: its applied index; at most that) and
   * compacts its log through it.
   */
  snapshot(id: number, index = this.replica(id).status().appliedIndex): number {
    const replica = this.replica(id);
    if (index > replica.status().appliedIndex) {
      throw new Error(`replica ${id} has not applied slot ${index}`);
    }
    const snapshot = {
      index,
      ballot: replica.entryAt(index)?.ballot ?? 0,
      data: encoder.encode(JSON.stringify(this.applied(id).slice(0, index))),
    };
    this.storage(id).compact(snapshot, index);
    replica.compact(snapshot, index);
    this.record(`snapshot ${id} at ${index} (${snapshot.data.byteLength} bytes)`);
    return index;
  }

  /**
   * Ticks the given replicas and delivers messages among them until `done()` holds; messages
   * to or from other replicas are dropped, as in a partition. Throws after `maxTicks`.
   */
  runUntil(done: () => boolean, ids: readonly number[] = this.ids, maxTicks = 500): void {
    const inside = new Set(ids);
    for (let tick = 0; tick < maxTicks; tick += 1) {
      if (done()) {
        return;
      }
      this.tick(1, ids);
      for (let round = 0; round < 100; round += 1) {
        this.inFlight = this.inFlight.filter(
          (message) => inside.has(message.from) && inside.has(message.to),
        );
        if (this.deliver({ among: inside }, 1_000) === 0) {
          break;
        }
      }
    }
    if (!done()) {
      throw new Error(`condition not reached within ${maxTicks} ticks`);
    }
  }

  /** Ticks and delivers among `ids` for exactly `ticks` ticks (others are cut off). */
  run(ticks: number, ids: readonly number[] = this.ids): void {
    let elapsed = 0;
    this.runUntil(
      () => {
        elapsed += 1;
        return elapsed > ticks;
      },
      ids,
      ticks + 1,
    );
  }

  /** Runs until some replica in `ids` leads; returns its id. */
  electLeader(ids: readonly number[] = this.ids): number {
    this.runUntil(() => ids.some((id) => this.role(id) === "leader"), ids);
    const leader = ids.find((id) => this.role(id) === "leader");
    if (leader === undefined) {
      throw new Error("no leader");
    }
    return leader;
  }

  /**
   * Makes replica `id` lead, deterministically: the other replicas in `among` go one election
   * timeout without hearing a leader (their own pre-votes are dropped, so only `id` campaigns),
   * then `id` times out and only election messages among `among` are delivered until it leads.
   * Messages from the others that were in flight are dropped. Throws if `id` does not win.
   */
  campaign(id: number, among: readonly number[] = this.ids): void {
    const voters = among.filter((voter) => voter !== id);
    const inside = new Set(among);
    this.tick(this.options.electionTimeoutTicks, voters);
    this.drop({ where: (message) => voters.includes(message.from) });
    for (let i = 0; i < 100 && this.role(id) === "follower"; i += 1) {
      this.tick(1, [id]);
    }
    for (let round = 0; round < 100 && this.role(id) !== "leader"; round += 1) {
      const election = { among: inside, where: (m: Message) => ELECTION_TYPES.has(m.type) };
      if (this.deliver(election, 1) === 0) {
        break;
      }
    }
    if (this.role(id) !== "leader") {
      throw new Error(`replica ${id} did not win its campaign (${this.role(id)})`);
    }
  }
}
