import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConsoleReplica } from "../../../host/node/cluster-node.js";
import { embeddedNodeConfig } from "../../../host/node/config.js";
import { type HealthSetter, ReplicaHealth } from "../../../host/node/replica-health.js";
import {
  encodeCheckpointCommand,
  HASH_BYTES,
} from "../../../host/replication/checkpoint/checkpoint-commands.js";
import { CheckpointScheduler } from "../../../host/replication/checkpoint/checkpoint-scheduler.js";
import {
  type ConsoleMachine,
  createConsoleMachine,
} from "../../../host/replication/console-machine.js";
import { encodeKvCommand } from "../../../host/replication/kv/kv-commands.js";
import { createEngine, InlineEngine } from "../../../host/runtime/index.js";

/** The last status set for each health entry (the server's health service is tested elsewhere). */
class HealthTable implements HealthSetter {
  readonly statuses = new Map<string, string>();
  setStatus(service: string, status: "SERVING" | "NOT_SERVING"): void {
    this.statuses.set(service, status);
  }
}

/**
 * The node's health over a real single-node replica of the console state machine: SERVING while
 * it runs; a checkpoint whose hash differs from the replica's own (what a leader with another
 * history would propose) halts it, and health, log and checkpoint counts say so.
 */
describe("the replica's health", () => {
  let parts: ConsoleMachine;
  let replica: ConsoleReplica;
  let health: ReplicaHealth;
  const table = new HealthTable();
  const lines: { msg: string; slot?: number; code?: string }[] = [];
  const logger = pino(
    { level: "info" },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()));
        done();
      },
    }),
  );

  beforeEach(async () => {
    const runtime = createEngine({ evictOldBuilds: false });
    parts = createConsoleMachine({
      registry: runtime.registry,
      runtime: new InlineEngine(runtime.engine),
    });
    replica = await ConsoleReplica.start(embeddedNodeConfig(), () => "", logger, parts.machine);
    health = new ReplicaHealth(
      replica,
      parts.checkpoint,
      table,
      ["", "sessions.v1.Sessions"],
      logger,
    );
    lines.length = 0;
  });

  afterEach(async () => {
    health.close();
    await replica.stop();
  });

  const put = (requestId: number) =>
    replica.propose(encodeKvCommand({ op: "put", key: "k", value: Buffer.from("v") }), {
      clientId: "writer",
      requestId,
    });

  it("serves while checkpoints match, and stops serving once one does not", async () => {
    health.check();
    expect(Object.fromEntries(table.statuses)).toEqual({
      "": "SERVING",
      "sessions.v1.Sessions": "SERVING",
    });
    // The leader's own checkpoints match.
    const scheduler = new CheckpointScheduler(replica.engine, parts.checkpoint, {
      intervalSlots: 1,
    });
    await put(1);
    await put(2);
    expect(await scheduler.tick()).toBe(true);
    expect(parts.checkpoint.status()).toMatchObject({ verified: 1, diverged: undefined });

    // A checkpoint carrying another history's hash for a slot this replica applied.
    const slot = replica.engine.lastAppliedIndex();
    const foreign = encodeCheckpointCommand({
      appliedIndex: slot,
      hash: new Uint8Array(HASH_BYTES).fill(0xab),
    });
    await expect(replica.propose(foreign, { clientId: "rogue", requestId: 1 })).rejects.toThrow();
    expect(replica.engine.haltReason()?.message).toMatch(/diverged at slot/);
    expect(parts.checkpoint.status().diverged?.slot).toBe(slot);

    health.check();
    expect(Object.fromEntries(table.statuses)).toEqual({
      "": "NOT_SERVING",
      "sessions.v1.Sessions": "NOT_SERVING",
    });
    expect(lines.map((line) => line.msg)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/history differs from the leader's/),
        "replica halted; NOT_SERVING",
      ]),
    );
    expect(lines.find((line) => /history differs/.test(line.msg))?.slot).toBe(slot);
    // Nothing more is applied: the replica refuses writes.
    await expect(put(3)).rejects.toThrow();
  });
});
