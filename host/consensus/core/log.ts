import type { Entry } from "./entry.js";
import { invariant } from "./errors.js";

/**
 * The in-memory view of one acceptor's slots: a hole-free run of entries from `firstIndex` to
 * `lastIndex`. Slots at or below `compactedIndex` were folded into a snapshot and dropped.
 * Unlike a Raft log, a later write never truncates the slots after it: Paxos slots are
 * independent, so a write replaces one slot only.
 */
export class SlotLog {
  private entries: Entry[] = [];
  private compacted: number;

  /** Starts with `entries` (contiguous, first at `compactedIndex + 1`). */
  constructor(compactedIndex: number, entries: readonly Entry[]) {
    invariant(compactedIndex >= 0, "compacted index must be non-negative");
    this.compacted = compactedIndex;
    for (const entry of entries) {
      this.put(entry);
    }
  }

  /** The highest slot dropped by compaction (0 if none). */
  get compactedIndex(): number {
    return this.compacted;
  }

  /** The first slot still held. */
  get firstIndex(): number {
    return this.compacted + 1;
  }

  /** The last slot held, or `compactedIndex` when empty. */
  get lastIndex(): number {
    return this.compacted + this.entries.length;
  }

  /** The entry in slot `index`, if held. */
  get(index: number): Entry | undefined {
    if (index <= this.compacted) {
      return undefined;
    }
    return this.entries[index - this.compacted - 1];
  }

  /** Writes `entry` into its slot; the slot must be held already or be `lastIndex + 1`. */
  put(entry: Entry): void {
    invariant(entry.index > this.compacted, `slot ${entry.index} is compacted`);
    invariant(entry.index <= this.lastIndex + 1, `slot ${entry.index} would leave a hole`);
    this.entries[entry.index - this.compacted - 1] = entry;
  }

  /** Entries `fromIndex..toIndex` (inclusive, clamped to what is held), at most `limit` of them. */
  slice(fromIndex: number, toIndex: number, limit: number): Entry[] {
    const from = Math.max(fromIndex, this.firstIndex);
    const to = Math.min(toIndex, this.lastIndex, from + limit - 1);
    if (to < from) {
      return [];
    }
    return this.entries.slice(from - this.compacted - 1, to - this.compacted);
  }

  /** Drops every slot up to and including `index` (which must not exceed `lastIndex`). */
  compactThrough(index: number): void {
    if (index <= this.compacted) {
      return;
    }
    if (index >= this.lastIndex) {
      this.entries = [];
    } else {
      this.entries = this.entries.slice(index - this.compacted);
    }
    this.compacted = index;
  }
}
