import { describe, expect, it } from "vitest";
import type { Message } from "../../../host/consensus/core/messages.js";
import { MemoryNetwork } from "../../../host/consensus/transport/memory.js";
import { transportContract } from "./transport.contract.js";

transportContract("MemoryNetwork (manual)", () => {
  const network = new MemoryNetwork("manual");
  return {
    endpoint: (id) => network.endpoint(id),
    settle: async () => {
      network.deliverAll();
    },
  };
});

transportContract("MemoryNetwork (immediate)", () => {
  const network = new MemoryNetwork("immediate");
  return {
    endpoint: (id) => network.endpoint(id),
    settle: () => new Promise((resolve) => setImmediate(() => setImmediate(resolve))),
  };
});

describe("MemoryNetwork limits", () => {
  it("drops messages beyond its queue bound", () => {
    const network = new MemoryNetwork("manual", 2);
    const a = network.endpoint(1);
    const received: Message[] = [];
    network.endpoint(2).onMessage((message) => received.push(message));
    for (let i = 0; i < 5; i += 1) {
      a.send({ type: "heartbeat", from: 1, to: 2, ballot: 1025, commitIndex: i });
    }
    expect(network.droppedMessages).toBe(3);
    network.deliverAll();
    expect(received.map((m) => (m.type === "heartbeat" ? m.commitIndex : -1))).toEqual([0, 1]);
  });
});
