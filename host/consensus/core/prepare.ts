import type { Ballot } from "./ballot.js";
import type { Entry, SlotValue } from "./entry.js";

/** What phase 1 learned about one slot: the highest-ballot accepted value, or a chosen one. */
export interface RecoveredSlot {
  readonly ballot: Ballot;
  readonly value: SlotValue;
  readonly chosen: boolean;
}

/** Per-acceptor state of a chunked phase 1. */
interface AcceptorReport {
  /** The next slot the acceptor should report. */
  nextIndex: number;
  /** True once the acceptor reported everything it holds. */
  complete: boolean;
  /** `nextIndex` when `stalledReports` last looked. */
  seenIndex: number;
}

/**
 * The tally of one phase 1 (prepare) round. Acceptors report their accepted slots in chunks;
 * the round succeeds when a quorum has reported completely. For each slot the value to propose
 * is a chosen value if anyone knows one, else the value accepted at the highest ballot.
 */
export class PrepareTally {
  readonly ballot: Ballot;
  readonly fromIndex: number;
  private readonly reports = new Map<number, AcceptorReport>();
  private readonly slots = new Map<number, RecoveredSlot>();
  private maxIndex: number;

  constructor(ballot: Ballot, fromIndex: number) {
    this.ballot = ballot;
    this.fromIndex = fromIndex;
    this.maxIndex = fromIndex - 1;
  }

  /** The slot the acceptor's next report must start at, or undefined if it is complete. */
  expectedFrom(replicaId: number): number | undefined {
    const report = this.reports.get(replicaId);
    if (report === undefined) {
      return this.fromIndex;
    }
    return report.complete ? undefined : report.nextIndex;
  }

  /**
   * Records one chunk from `replicaId` starting at `fromIndex`. Returns the slot the next chunk
   * must start at, or undefined when the acceptor has reported everything up to `lastIndex`.
   */
  record(
    replicaId: number,
    fromIndex: number,
    entries: readonly Entry[],
    lastIndex: number,
    commitIndex: number,
  ): number | undefined {
    const expected = this.expectedFrom(replicaId);
    if (expected === undefined || expected !== fromIndex) {
      return expected;
    }
    let index = fromIndex;
    for (const entry of entries) {
      if (entry.index !== index) {
        break;
      }
      this.observe(entry, entry.index <= commitIndex);
      index += 1;
    }
    const complete = index > lastIndex;
    const seenIndex = this.reports.get(replicaId)?.seenIndex ?? fromIndex - 1;
    this.reports.set(replicaId, { nextIndex: index, complete, seenIndex });
    return complete ? undefined : index;
  }

  /**
   * Acceptors that began reporting but whose report did not move since the previous call, with
   * the slot their next chunk must start at (the candidate asks for it again).
   */
  stalledReports(): [replicaId: number, nextIndex: number][] {
    const stalled: [number, number][] = [];
    for (const [replicaId, report] of this.reports) {
      if (!report.complete && report.nextIndex === report.seenIndex) {
        stalled.push([replicaId, report.nextIndex]);
      }
      report.seenIndex = report.nextIndex;
    }
    return stalled;
  }

  /** The number of acceptors that reported completely. */
  completeCount(): number {
    let count = 0;
    for (const report of this.reports.values()) {
      if (report.complete) {
        count += 1;
      }
    }
    return count;
  }

  /** The highest slot any acceptor reported. */
  highestIndex(): number {
    return this.maxIndex;
  }

  /** What was learned about `index`, if anything. */
  slot(index: number): RecoveredSlot | undefined {
    return this.slots.get(index);
  }

  private observe(entry: Entry, chosen: boolean): void {
    this.maxIndex = Math.max(this.maxIndex, entry.index);
    const known = this.slots.get(entry.index);
    if (known?.chosen) {
      return;
    }
    if (chosen || known === undefined || entry.ballot > known.ballot) {
      this.slots.set(entry.index, { ballot: entry.ballot, value: entry.value, chosen });
    }
  }
}
