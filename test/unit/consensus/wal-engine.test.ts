import { readdir } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { SingleNodeEngine } from "../../../host/consensus/engine/single-node-engine.js";
import { WalStorage } from "../../../host/consensus/storage/wal/wal-storage.js";
import { AppendLog, bytes } from "./helpers.js";
import { useTempDirs } from "./wal.helpers.js";

const tempDir = useTempDirs();

describe("SingleNodeEngine on WalStorage (real files)", () => {
  it("restarts from the WAL with every committed command, snapshots and compaction included", async () => {
    const dir = await tempDir();
    let appends = 0;
    const start = async () => {
      const storage = new WalStorage({
        dir,
        segmentBytes: 1024,
        observer: { appended: () => (appends += 1) },
      });
      const machine = new AppendLog();
      const engine = new SingleNodeEngine({
        nodeId: "solo",
        storage,
        stateMachine: machine,
        snapshotIntervalSlots: 8,
      });
      await engine.start();
      return { storage, machine, engine };
    };
    let node = await start();
    const expected: string[] = [];
    for (let round = 0; round < 30; round++) {
      // Proposals of one turn share a slot; rounds are awaited one after the other.
      const values = [0, 1, 2].map((i) => `r${round}-${i}`);
      expected.push(...values);
      await Promise.all(values.map((value) => node.engine.propose(bytes(value))));
    }
    expect(node.machine.items).toEqual(expected);
    // One write and fdatasync per slot, not per command (the three of a round share a slot): 30
    // slots, plus the few appends of snapshots (every 8 slots) and of promises; per command
    // would be 90.
    expect(appends).toBeGreaterThanOrEqual(30);
    expect(appends).toBeLessThanOrEqual(30 + Math.ceil(30 / 8) + 2);
    await node.engine.stop();
    await node.storage.close();

    node = await start();
    expect(node.machine.items).toEqual(expected);
    await node.engine.propose(bytes("after-restart"));
    expect(node.machine.items).toEqual([...expected, "after-restart"]);
    const files = await readdir(dir);
    expect(files.filter((name) => name.endsWith(".snap"))).toHaveLength(1);
    // Compaction keeps the log to a few 1 KiB segments although ~30 slots were written.
    expect(files.filter((name) => name.endsWith(".wal")).length).toBeLessThanOrEqual(4);
    await node.engine.stop();
    await node.storage.close();
  });
});
