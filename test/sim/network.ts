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
}

export const NO_NETWORK_FAULTS: NetworkFaults = {
  lossRate: 0,
  duplicateRate: 0,
  maxExtraDelayTicks: 0,
  reorder: false,
};

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
  /** Delivered messages by type. */
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
    byType: {},
  };
  private readonly random: SimRandom;
  private readonly handlers = new Map<number, (message: Message) => void>();
  private readonly cut = new Set<string>();
  private inFlight: InFlight[] = [];
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

  private send(message: Message): void {
    this.stats.sent += 1;
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
    const delay = 1 + this.random.nextInt(this.faults.maxExtraDelayTicks + 1);
    this.seq += 1;
    this.inFlight.push({ deliverAt: this.now + delay, seq: this.seq, message });
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
      this.stats.byType[message.type] = (this.stats.byType[message.type] ?? 0) + 1;
      delivered += 1;
      handler(message);
    }
    return delivered;
  }

  /** Messages still in flight. */
  inFlightCount(): number {
    return this.inFlight.length;
  }
}
