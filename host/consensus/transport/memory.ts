import { invariant } from "../core/errors.js";
import type { Message } from "../core/messages.js";
import type { Transport } from "./transport.js";

/** How a {@link MemoryNetwork} delivers queued messages. */
export type DeliveryMode =
  /** Messages wait until `deliverAll()` / `deliverOne()` is called (tests). */
  | "manual"
  /** Delivery is scheduled with `setImmediate` after a send (benchmarks, embedded use). */
  | "immediate";

/**
 * A reliable, in-order, in-process network for replicas in one process. Faults are not its job
 * (the simulator has its own faulty network); it is the adapter used by tests, benchmarks and
 * embedded clusters. The queue is bounded by `maxQueuedMessages`; beyond it messages are dropped.
 */
export class MemoryNetwork {
  private readonly endpoints = new Map<number, MemoryTransport>();
  private queue: Message[] = [];
  private head = 0;
  private scheduled = false;
  private readonly mode: DeliveryMode;
  private readonly maxQueuedMessages: number;
  /** Messages dropped because the queue was full or the receiver was closed or unknown. */
  droppedMessages = 0;

  constructor(mode: DeliveryMode = "manual", maxQueuedMessages = 1_000_000) {
    invariant(maxQueuedMessages > 0, "queue bound must be positive");
    this.mode = mode;
    this.maxQueuedMessages = maxQueuedMessages;
  }

  /** Creates the endpoint of replica `replicaId`. */
  endpoint(replicaId: number): MemoryTransport {
    invariant(!this.endpoints.has(replicaId), `endpoint ${replicaId} exists`);
    const transport = new MemoryTransport(this, replicaId);
    this.endpoints.set(replicaId, transport);
    return transport;
  }

  /** Messages waiting for delivery. */
  queuedMessages(): number {
    return this.queue.length - this.head;
  }

  /** Delivers the oldest queued message; returns false if there was none. */
  deliverOne(): boolean {
    const message = this.queue[this.head];
    if (message === undefined) {
      return false;
    }
    this.head += 1;
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    const target = this.endpoints.get(message.to);
    if (target === undefined || !target.deliver(message)) {
      this.droppedMessages += 1;
    }
    return true;
  }

  /** Delivers queued messages (including ones sent meanwhile) up to `limit`; returns the count. */
  deliverAll(limit = 1_000_000): number {
    let delivered = 0;
    while (delivered < limit && this.deliverOne()) {
      delivered += 1;
    }
    return delivered;
  }

  /** @internal Called by endpoints. */
  enqueue(message: Message): void {
    if (this.queuedMessages() >= this.maxQueuedMessages) {
      this.droppedMessages += 1;
      return;
    }
    this.queue.push(message);
    if (this.mode === "immediate") {
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.scheduled) {
      return;
    }
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      // Bounded per turn so timers and I/O still get to run between rounds.
      this.deliverAll(100_000);
      if (this.queuedMessages() > 0) {
        this.schedule();
      }
    });
  }

  /** @internal Called by endpoints on close. */
  remove(replicaId: number): void {
    this.endpoints.delete(replicaId);
  }
}

/** One replica's endpoint on a {@link MemoryNetwork}. */
export class MemoryTransport implements Transport {
  private handler: ((message: Message) => void) | undefined;
  private closed = false;
  private readonly network: MemoryNetwork;
  private readonly replicaId: number;

  constructor(network: MemoryNetwork, replicaId: number) {
    this.network = network;
    this.replicaId = replicaId;
  }

  send(message: Message): void {
    if (this.closed) {
      return;
    }
    invariant(message.from === this.replicaId, "messages must be sent from their own endpoint");
    this.network.enqueue(message);
  }

  onMessage(handler: (message: Message) => void): void {
    this.handler = handler;
  }

  close(): void {
    this.closed = true;
    this.network.remove(this.replicaId);
  }

  /** @internal Returns false if the message could not be handed to a handler. */
  deliver(message: Message): boolean {
    if (this.closed || this.handler === undefined) {
      return false;
    }
    this.handler(message);
    return true;
  }
}
