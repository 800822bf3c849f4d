import { afterEach, describe, expect, it } from "vitest";
import type { Message } from "../../../host/consensus/core/messages.js";
import type { Transport } from "../../../host/consensus/transport/transport.js";
import { sampleMessages } from "./wire-arbitraries.js";

/** A network under test: endpoints plus a way to let queued messages arrive. */
export interface TransportHarness {
  /** The endpoint of `replicaId` (replicas 1..3 are members; others are unknown). */
  endpoint(replicaId: number): Transport | Promise<Transport>;
  /** Lets every message sent so far between open endpoints arrive (may be asynchronous). */
  settle(): Promise<void>;
  /** Releases everything the harness opened (sockets, timers). */
  dispose?(): Promise<void> | void;
}

const heartbeat = (from: number, to: number, commitIndex: number): Message => ({
  type: "heartbeat",
  from,
  to,
  ballot: 1025,
  commitIndex,
});

/** The contract every {@link Transport} adapter must meet (see the interface comment). */
export function transportContract(
  name: string,
  open: () => TransportHarness | Promise<TransportHarness>,
): void {
  describe(`${name} (transport contract)`, () => {
    let harness: TransportHarness | undefined;
    const start = async (): Promise<TransportHarness> => {
      harness = await open();
      return harness;
    };
    afterEach(async () => {
      await harness?.dispose?.();
      harness = undefined;
    });

    it("delivers a message unchanged to its receiver, never from inside send", async () => {
      const harness = await start();
      const a = await harness.endpoint(1);
      const b = await harness.endpoint(2);
      const received: Message[] = [];
      b.onMessage((message) => received.push(message));
      a.onMessage(() => undefined);
      a.send(heartbeat(1, 2, 7));
      expect(received).toEqual([]);
      await harness.settle();
      expect(received).toEqual([heartbeat(1, 2, 7)]);
    });

    it("delivers every message type with its fields intact, in both directions", async () => {
      const harness = await start();
      const a = await harness.endpoint(1);
      const b = await harness.endpoint(2);
      const atA: Message[] = [];
      const atB: Message[] = [];
      a.onMessage((message) => atA.push(message));
      b.onMessage((message) => atB.push(message));
      for (const message of sampleMessages(1, 2)) {
        a.send(message);
      }
      for (const message of sampleMessages(2, 1)) {
        b.send(message);
      }
      await harness.settle();
      expect(atB).toEqual(sampleMessages(1, 2));
      expect(atA).toEqual(sampleMessages(2, 1));
    });

    it("does not throw for unknown or closed receivers", async () => {
      const harness = await start();
      const a = await harness.endpoint(1);
      const b = await harness.endpoint(2);
      const received: Message[] = [];
      b.onMessage((message) => received.push(message));
      b.close();
      expect(() => a.send(heartbeat(1, 2, 1))).not.toThrow();
      expect(() => a.send(heartbeat(1, 9, 1))).not.toThrow();
      await harness.settle();
      expect(received).toEqual([]);
    });

    it("sends nothing after close", async () => {
      const harness = await start();
      const a = await harness.endpoint(1);
      const b = await harness.endpoint(2);
      const received: Message[] = [];
      b.onMessage((message) => received.push(message));
      a.close();
      a.send(heartbeat(1, 2, 1));
      await harness.settle();
      expect(received).toEqual([]);
    });
  });
}
