import type { Message } from "../../host/consensus/core/messages.js";
import type { Transport } from "../../host/consensus/transport/transport.js";
import type { SimRandom } from "./random.js";

/** Message faults currently in force. */
export interface NetworkFaults {
  lossRate: number;
  duplicateRate: number;
  /** Extra delay is uniform in `[0, maxExtraDelayTicks]`; every message takes at least 1 tick. */
  maxExtraDelayTicks: number;
  /** Deliver messages that are due in the same tick in random order. */
  reorder: boolean;
  /**
   * Chance that a message is held for `longDelayTicks` (uniform in the range) instead: longer
   * than a leadership turnover, so a message from an earlier leadership arrives late.
   */
  longDelayRate: number;
  longDelayTicks: readonly [number, number];
}

export const NO_NETWORK_FAULTS: NetworkFaults = {
  lossRate: 0,
  duplicateRate: 0,
  maxExtraDelayTicks: 0,
  reorder: false,
  longDelayRate: 0,
  longDelayTicks: [0, 0],
};

/** Messages remembered per receiver for {@link SimNetwork.replayStale}. */
const REMEMBERED_PER_RECEIVER = 128;

interface InFlight {
  readonly deliverAt: number;
  readonly seq: number;
  readonly message: Message;
}

/** Counters of what the network did, for the run summary. */
export interface NetworkStats {
  sent: number;
  delivered: number;
  lost: number;
  duplicated: number;
  blocked: number;
  /** Messages held back by a long delay. */
  longDelayed: number;
  /** Old messages delivered again by `replayStale`. */
  replayed: number;
  /**
   * Delivered messages by type; `prepareChunk` counts the prepares that ask for a further chunk
   * of a phase-1 report (they are counted as `prepare` too).
   */
  byType: Record<string, number>;
}

/**
 * The simulator's network: every message is delayed by at least one tick and may be lost,
 * duplicated, delayed further and reordered; links can be cut in one direction (asymmetric
 * partition) or both. Messages to a paused replica wait; messages to a crashed one are lost.
 * The number of messages in flight is bounded; beyond it new messages are lost.
 */
export class SimNetwork {
  faults: NetworkFaults = { ...NO_NETWORK_FAULTS };
  readonly stats: NetworkStats = {
    sent: 0,
    delivered: 0,
    lost: 0,
    duplicated: 0,
    blocked: 0,
    longDelayed: 0,
    replayed: 0,
    byType: {},
  };
  private readonly random: SimRandom;
  private readonly handlers = new Map<number, (message: Message) => void>();
  private readonly cut = new Set<string>();
  private inFlight: InFlight[] = [];
  /** The last messages delivered to each replica (a ring per receiver). */
  private readonly delivered = new Map<number, Message[]>();
  /** Protocol messages delivered to each replica so far (for the reservoir). */
  private readonly seen = new Map<number, number>();
  private seq = 0;
  private now = 0;
  private readonly maxInFlight: number;

  constructor(random: SimRandom, maxInFlight = 200_000) {
    this.random = random;
    this.maxInFlight = maxInFlight;
  }

  /** A transport endpoint for `replicaId`; a new endpoint replaces the old (after a restart). */
  endpoint(replicaId: number): Transport {
    let open = true;
    return {
      send: (message) => {
        if (open) {
          this.send(message);
        }
      },
      onMessage: (handler) => {
        if (open) {
          this.handlers.set(replicaId, handler);
        }
      },
      close: () => {
        if (open) {
          open = false;
          this.handlers.delete(replicaId);
        }
      },
    };
  }

  /** Cuts the link `from -> to` (one direction). */
  cutLink(from: number, to: number): void {
    this.cut.add(`${from}>${to}`);
  }

  /** Restores every link. */
  healAll(): void {
    this.cut.clear();
  }

  /** The number of cut directed links. */
  cutLinks(): number {
    return this.cut.size;
  }

  private linkCut(from: number, to: number): boolean {
    return this.cut.has(`${from}>${to}`);
  }

  /**
   * The highest ballot each acceptor has vouched for in a message it sent (a promise, an
   * accepted, a nack): by the protocol it has durably promised at least that much.
   */
  private readonly vouched = new Map<number, number>();
  /** Acceptor rule violations seen on the wire (ballot order), for the simulator's checks. */
  readonly violations: string[] = [];

  /** Per ballot and slot, the acceptors that said they accepted the slot at that ballot. */
  private readonly acceptances = new Map<number, Map<number, Set<number>>>();

  /**
   * How many acceptors have accepted slot `index` at `ballot`, counting the ballot's owner (a
   * leader accepts its own proposals without a message): a value is chosen once that reaches a
   * quorum.
   */
  acceptedCount(ballot: number, index: number, owner: number): number {
    const acceptors = this.acceptances.get(ballot)?.get(index);
    if (acceptors === undefined) {
      return 1;
    }
    return acceptors.has(owner) ? acceptors.size : acceptors.size + 1;
  }

  /** The highest ballot `replicaId` ever vouched for (0 if none); see `vouched`. */
  highestVouched(replicaId: number): number {
    return this.vouched.get(replicaId) ?? 0;
  }

  /**
   * Ballot order on the wire: an acceptor never promises, or accepts at, a ballot below one it
   * already vouched for, in this life or an earlier one (its promise is persisted).
   */
  private observe(message: Message): void {
    if (message.type !== "promise" && message.type !== "accepted" && message.type !== "nack") {
      return;
    }
    const vouched = this.vouched.get(message.from) ?? 0;
    if (message.type !== "nack" && message.ballot < vouched && this.violations.length < 10) {
      this.violations.push(
        `t=${this.now} replica ${message.from} sent ${message.type} at ballot ${message.ballot} ` +
          `after vouching for ballot ${vouched}`,
      );
    }
    if (message.ballot > vouched) {
      this.vouched.set(message.from, message.ballot);
    }
    if (message.type === "accepted") {
      let slots = this.acceptances.get(message.ballot);
      if (slots === undefined) {
        slots = new Map();
        this.acceptances.set(message.ballot, slots);
      }
      for (let index = message.fromIndex; index <= message.toIndex; index += 1) {
        const acceptors = slots.get(index);
        if (acceptors === undefined) {
          slots.set(index, new Set([message.from]));
        } else {
          acceptors.add(message.from);
        }
      }
    }
  }

  private send(message: Message): void {
    this.stats.sent += 1;
    this.observe(message);
    if (this.inFlight.length >= this.maxInFlight || this.random.chance(this.faults.lossRate)) {
      this.stats.lost += 1;
      return;
    }
    this.enqueue(message);
    if (this.random.chance(this.faults.duplicateRate)) {
      this.stats.duplicated += 1;
      this.enqueue(message);
    }
  }

  private enqueue(message: Message): void {
    let delay = 1 + this.random.nextInt(this.faults.maxExtraDelayTicks + 1);
    if (this.faults.longDelayRate > 0 && this.random.chance(this.faults.longDelayRate)) {
      const [min, max] = this.faults.longDelayTicks;
      delay = this.random.between(min, max);
      this.stats.longDelayed += 1;
    }
    this.seq += 1;
    this.inFlight.push({ deliverAt: this.now + delay, seq: this.seq, message });
  }

  /**
   * Delivers up to `count` messages `to` received before (as a restarted replica may receive
   * the stale traffic of its previous life, or a router may replay old packets), each after a
   * delay of 1 to `maxDelayTicks` ticks. Returns the number queued.
   */
  replayStale(to: number, count: number, maxDelayTicks: number): number {
    const old = this.delivered.get(to);
    if (old === undefined || old.length === 0) {
      return 0;
    }
    for (let i = 0; i < count; i += 1) {
      this.seq += 1;
      this.inFlight.push({
        deliverAt: this.now + this.random.between(1, maxDelayTicks),
        seq: this.seq,
        message: this.random.pick(old),
      });
    }
    this.stats.replayed += count;
    return count;
  }

  /**
   * Keeps a uniform sample of every protocol message ever delivered to a replica (reservoir
   * sampling), so replays include messages of leaderships long gone. Heartbeats and status
   * replies are left out: they are most of the traffic and replaying them tests little.
   */
  private remember(message: Message): void {
    if (message.type === "heartbeat" || message.type === "status") {
      return;
    }
    const seen = (this.seen.get(message.to) ?? 0) + 1;
    this.seen.set(message.to, seen);
    const ring = this.delivered.get(message.to);
    if (ring === undefined) {
      this.delivered.set(message.to, [message]);
    } else if (ring.length < REMEMBERED_PER_RECEIVER) {
      ring.push(message);
    } else {
      // A hash of the count stands in for a random draw, so remembering costs no randomness.
      const slot = Math.imul(seen, 0x9e3779b1) >>> 0;
      if (slot % seen < REMEMBERED_PER_RECEIVER) {
        ring[slot % REMEMBERED_PER_RECEIVER] = message;
      }
    }
  }

  /**
   * Advances to tick `now` and delivers every message due, except to replicas `isPaused` says
   * are paused (those wait). Returns the number delivered.
   */
  deliverDue(now: number, isPaused: (replicaId: number) => boolean): number {
    this.now = now;
    const due: InFlight[] = [];
    const later: InFlight[] = [];
    for (const item of this.inFlight) {
      if (item.deliverAt <= now && !isPaused(item.message.to)) {
        due.push(item);
      } else {
        later.push(item);
      }
    }
    this.inFlight = later;
    if (this.faults.reorder) {
      this.random.shuffle(due);
    } else {
      due.sort((a, b) => a.seq - b.seq);
    }
    let delivered = 0;
    for (const item of due) {
      const { message } = item;
      const handler = this.handlers.get(message.to);
      if (this.linkCut(message.from, message.to)) {
        this.stats.blocked += 1;
        continue;
      }
      if (handler === undefined) {
        this.stats.lost += 1;
        continue;
      }
      this.stats.delivered += 1;
      this.count(message);
      this.remember(message);
      delivered += 1;
      handler(message);
    }
    return delivered;
  }

  private count(message: Message): void {
    const byType = this.stats.byType;
    byType[message.type] = (byType[message.type] ?? 0) + 1;
    if (message.type === "prepare" && message.fromIndex > message.commitIndex + 1) {
      byType.prepareChunk = (byType.prepareChunk ?? 0) + 1;
    }
  }

  /** Messages still in flight. */
  inFlightCount(): number {
    return this.inFlight.length;
  }
}
