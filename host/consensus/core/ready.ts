import type { Command, Entry, HardState, Snapshot } from "./entry.js";
import type { Message } from "./messages.js";

/**
 * Everything the core asks its driver to do after some input. The driver must, in this order:
 *
 * 1. persist `snapshot` (if any), `hardState` (if any) and `entries` atomically and durably;
 * 2. only then send `messages` (they may promise what was just persisted); a leader's `accept`
 *    and `heartbeat` messages of a Ready that keeps the promised ballot may go out during the
 *    persist, provided replies are stepped only after it (docs/consensus.md, "The Ready contract");
 * 3. restore the state machine from `snapshot` (if any), then apply `committedEntries` in order;
 * 4. call `advance(ready)` on the core.
 *
 * `droppedCommands` were queued but never placed in a slot because leadership was lost; they are
 * definitely not committed and may be retried anywhere.
 */
export interface Ready {
  readonly hardState: HardState | undefined;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | undefined;
  readonly messages: readonly Message[];
  readonly committedEntries: readonly Entry[];
  readonly droppedCommands: readonly Command[];
}
