import type { Message } from "../core/messages.js";

/**
 * Moves messages between replicas. Contract (checked by the shared transport contract tests):
 *
 * - `send` never throws for an unreachable or unknown peer and never blocks; delivery is best
 *   effort. Messages may be lost, duplicated, delayed and reordered; the protocol copes.
 * - A delivered message is handed to the handler registered with `onMessage` exactly as sent
 *   (same fields), on the receiver's driver, never re-entrantly from inside `send`.
 * - After `close()`, nothing more is delivered to this endpoint and `send` does nothing.
 * - Transports must bound their queues; a message beyond a bound is dropped, never buffered
 *   without limit.
 */
export interface Transport {
  /** Queues `message` for `message.to`. */
  send(message: Message): void;
  /** Registers the single handler that receives messages addressed to this endpoint. */
  onMessage(handler: (message: Message) => void): void;
  /** Stops sending and delivering. */
  close(): void;
}
