import { describe, expect, it } from "vitest";
import type { ConsensusError } from "../../../host/consensus/core/errors.js";
import { SingleNodeEngine } from "../../../host/consensus/engine/single-node-engine.js";
import { ManualTickSource } from "../../../host/consensus/engine/tick-source.js";
import { MemoryStorage } from "../../../host/consensus/storage/memory.js";
import { runEngineContract } from "./engine.contract.js";
import { AppendLog, bytes, ControlledStorage, settled, text } from "./helpers.js";

/** A single-node engine ticked by hand over storage the test controls. */
async function singleNode() {
  const storage = new ControlledStorage();
  const make = () => {
    const machine = new AppendLog();
    const ticks = new ManualTickSource();
    const engine = new SingleNodeEngine({
      nodeId: "solo",
      storage,
      stateMachine: machine,
      tickSource: ticks,
    });
    return { engine, machine, ticks };
  };
  let current = make();
  await current.engine.start();
  return {
    get engine() {
      return current.engine;
    },
    get machine() {
      return current.machine;
    },
    storage,
    run: async (count: number) => {
      for (let i = 0; i < count; i += 1) {
        current.ticks.tick();
        await settled();
      }
    },
    restart: async () => {
      await current.engine.stop();
      current = make();
      await current.engine.start();
    },
  };
}

runEngineContract("SingleNodeEngine", singleNode);

describe("SingleNodeEngine", () => {
  it("commits proposals of one turn in one slot, in order", async () => {
    const machine = new AppendLog();
    const engine = new SingleNodeEngine({
      nodeId: "solo",
      storage: new MemoryStorage(),
      stateMachine: machine,
    });
    await engine.start();
    const results = await Promise.all(["a", "b", "c"].map((v) => engine.propose(bytes(v))));
    expect(results.map((r) => r.index)).toEqual([1, 1, 1]);
    expect(results.map((r) => text(r.result))).toEqual(["1", "2", "3"]);
    expect(engine.isLeader()).toBe(true);
    expect(engine.leaderId()).toBe("solo");
    expect(engine.lastAppliedIndex()).toBe(1);
    await engine.waitForCommit(1);
  });

  it("compacts its log into snapshots and restarts from them", async () => {
    const storage = new MemoryStorage();
    const options = { nodeId: "solo", storage, snapshotIntervalSlots: 2 };
    const first = new SingleNodeEngine({ ...options, stateMachine: new AppendLog() });
    await first.start();
    for (const [i, value] of ["a", "b", "c", "d", "e"].entries()) {
      await first.propose(bytes(value), { clientId: "c", requestId: i + 1 });
    }
    await first.stop();
    const persisted = storage.peek();
    expect(persisted.snapshot?.index).toBe(4);
    expect(persisted.entries.map((entry) => entry.index)).toEqual([5]);
    const machine = new AppendLog();
    const second = new SingleNodeEngine({ ...options, stateMachine: machine });
    await second.start();
    expect(machine.items).toEqual(["a", "b", "c", "d", "e"]);
    const retry = await second.propose(bytes("e"), { clientId: "c", requestId: 5 });
    expect(text(retry.result)).toBe("5");
    expect(machine.items).toHaveLength(5);
  });

  it("rejects when stopped and for membership changes", async () => {
    const engine = new SingleNodeEngine({
      nodeId: "solo",
      storage: new MemoryStorage(),
      stateMachine: new AppendLog(),
    });
    const stopped = await engine.propose(bytes("x")).catch((error: unknown) => error);
    expect((stopped as ConsensusError).code).toBe("Stopped");
    const membership = await engine
      .addMember({ nodeId: "n2", replicaId: 2 })
      .catch((error: unknown) => error);
    expect((membership as ConsensusError).code).toBe("NotImplemented");
  });
});
