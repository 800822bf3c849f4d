import { describe, expect, it } from "vitest";
import type { Message } from "../../../host/consensus/core/messages.js";
import type { Transport } from "../../../host/consensus/transport/transport.js";

/** A network under test: endpoints plus a way to let queued messages arrive. */
export interface TransportHarness {
  endpoint(replicaId: number): Transport;
  /** Lets every message sent so far arrive (may be asynchronous). */
  settle(): Promise<void>;
}

const heartbeat = (from: number, to: number, commitIndex: number): Message => ({
  type: "heartbeat",
  from,
  to,
  ballot: 1025,
  commitIndex,
});

/** The contract every {@link Transport} adapter must meet (see the interface comment). */
export function transportContract(name: string, open: () => TransportHarness): void {
  describe(`${name} (transport contract)`, () => {
    it("delivers a message unchanged to its receiver, never from inside send", async () => {
      const harness = open();
      const a = harness.endpoint(1);
      const b = harness.endpoint(2);
      const received: Message[] = [];
      b.onMessage((message) => received.push(message));
      a.onMessage(() => undefined);
      a.send(heartbeat(1, 2, 7));
      expect(received).toEqual([]);
      await harness.settle();
      expect(received).toEqual([heartbeat(1, 2, 7)]);
    });

    it("does not throw for unknown or closed receivers", async () => {
      const harness = open();
      const a = harness.endpoint(1);
      const b = harness.endpoint(2);
      const received: Message[] = [];
      b.onMessage((message) => received.push(message));
      b.close();
      expect(() => a.send(heartbeat(1, 2, 1))).not.toThrow();
      expect(() => a.send(heartbeat(1, 9, 1))).not.toThrow();
      await harness.settle();
      expect(received).toEqual([]);
    });

    it("sends nothing after close", async () => {
      const harness = open();
      const a = harness.endpoint(1);
      const b = harness.endpoint(2);
      const received: Message[] = [];
      b.onMessage((message) => received.push(message));
      a.close();
      a.send(heartbeat(1, 2, 1));
      await harness.settle();
      expect(received).toEqual([]);
    });
  });
}
