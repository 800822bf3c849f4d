import { afterEach, describe, expect, it } from "vitest";
import {
  CheckpointScheduler,
  DivergenceError,
  decodeKvResult,
  encodeKvCommand,
  encodeManifestCommand,
  unwrapOutcome,
} from "../../../host/replication/index.js";
import {
  decodeSessionResult,
  encodeSessionCommand,
  type SessionCommand,
} from "../../../host/replication/sessions/session-commands.js";
import { ConsoleCluster, type ConsoleNode } from "./console-cluster.js";
import { build, installOf, sha256 } from "./manifest-helpers.js";
import { u32 } from "./session-helpers.js";

let cluster: ConsoleCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

async function propose(c: ConsoleCluster, leader: ConsoleNode, command: Uint8Array, id: number) {
  return c.until(leader.engine.propose(command, { clientId: "tester", requestId: id }));
}

describe("the divergence detector on a 3-replica in-memory Multi-Paxos cluster", () => {
  it("halts exactly the replica given another build behind the manifest's back; the others carry on", async () => {
    const c = new ConsoleCluster(3);
    cluster = c;
    await c.start();
    const leader = await c.electLeader();
    const [rogue, honest] = c.nodes.filter((node) => node !== leader) as [ConsoleNode, ConsoleNode];
    let requestId = 0;
    const run = (command: Uint8Array) => propose(c, leader, command, ++requestId);

    const official = await build(0);
    const installed = await run(encodeManifestCommand(installOf(official)));
    await c.appliedEverywhere(installed.index);
    for (const node of c.nodes) {
      expect(node.registry.resolve({ envId: "counter-v1" }).capabilities.buildId).toBe(
        sha256(official),
      );
    }

    // Behind the manifest's back: a different build of the same env id, made current on one
    // follower only (its step adds 2 where the official one adds 1).
    await rogue.registry.register(await build(1), "rogue.wasm");

    const create: SessionCommand = {
      op: "create",
      envId: "counter-v1",
      // The env's current build at apply time: the rogue's own on the rogue.
      buildId: "",
      seed: 5n,
      hint: new Uint8Array(),
      stampMs: 0,
    };
    const created = decodeSessionResult(
      unwrapOutcome((await run(encodeSessionCommand(create))).result),
    );
    if (created.op !== "create") throw new Error(`unexpected ${created.op}`);
    const sessionId = created.session.sessionId;
    let last = 0;
    for (let step = 0; step < 3; step += 1) {
      const stepped = await run(
        encodeSessionCommand({
          op: "step",
          sessionId,
          expectedStep: step,
          action: u32(0),
          stampMs: 0,
        }),
      );
      last = stepped.index;
    }
    await c.appliedEverywhere(last);
    // The log itself is the same everywhere; only the rogue's results differ.
    expect(rogue.console.checkpoint.status().hash).not.toBe(
      leader.console.checkpoint.status().hash,
    );
    expect(honest.console.checkpoint.status().hash).not.toBe(
      rogue.console.checkpoint.status().hash,
    );

    const scheduler = new CheckpointScheduler(leader.engine, leader.console.checkpoint, {
      intervalSlots: 1,
    });
    expect(await c.until(scheduler.tick())).toBe(true);
    const afterCheckpoint = leader.engine.lastAppliedIndex();
    await c.appliedEverywhere(afterCheckpoint);

    // The rogue halted at the checkpoint, with the reason; it shows in its checkpoint status.
    expect(rogue.halted?.message).toMatch(
      /state machine failed: diverged at slot \d+: hash [0-9a-f]{16} != leader's [0-9a-f]{16}/,
    );
    expect(rogue.engine.haltReason()).toBe(rogue.halted);
    expect(rogue.console.checkpoint.status().diverged).toBeInstanceOf(DivergenceError);
    expect(rogue.console.checkpoint.status().hashedIndex).toBeLessThan(afterCheckpoint);
    // The others verified it and carry on.
    for (const node of [leader, honest]) {
      expect(node.halted).toBeUndefined();
      expect(node.console.checkpoint.status()).toMatchObject({ verified: 1, diverged: undefined });
    }
    const put = await run(encodeKvCommand({ op: "put", key: "after", value: u32(1) }));
    expect(decodeKvResult(unwrapOutcome(put.result))).toMatchObject({ op: "put" });
    await c.appliedEverywhere(put.index);
    expect(honest.engine.lastAppliedIndex()).toBeGreaterThanOrEqual(put.index);
    expect(honest.console.checkpoint.status().hash).toBe(leader.console.checkpoint.status().hash);
    expect(honest.console.machine.snapshot()).toEqual(leader.console.machine.snapshot());
  });
});
