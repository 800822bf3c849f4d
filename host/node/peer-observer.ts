import type { Message } from "../consensus/core/messages.js";
import type { Transport } from "../consensus/transport/transport.js";

/** What this node last heard from one peer. */
export interface PeerContact {
  /** `performance.now()` of the last message received from the peer. */
  readonly atMs: number;
  /** The highest commit index the peer reported in a message. */
  readonly commitIndex: number;
}

/**
 * A transport decorator that notes, per peer, when a message last arrived and the commit index it
 * reported. The core is left alone (it never reads clocks); this lives in the composition root,
 * which may, and feeds the Cluster service's member view and the node's health.
 */
export class ObservedTransport implements Transport {
  private readonly contacts = new Map<number, PeerContact>();

  constructor(private readonly inner: Transport) {}

  send(message: Message): void {
    this.inner.send(message);
  }

  onMessage(handler: (message: Message) => void): void {
    this.inner.onMessage((message) => {
      const reported = "commitIndex" in message ? message.commitIndex : 0;
      const known = this.contacts.get(message.from)?.commitIndex ?? 0;
      this.contacts.set(message.from, {
        atMs: performance.now(),
        commitIndex: Math.max(known, reported),
      });
      handler(message);
    });
  }

  close(): void {
    this.inner.close();
  }

  /** What was last heard from `replicaId`, if anything. */
  contact(replicaId: number): PeerContact | undefined {
    return this.contacts.get(replicaId);
  }
}
