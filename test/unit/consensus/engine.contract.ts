import { describe, expect, it } from "vitest";
import { ConsensusError } from "../../../host/consensus/core/errors.js";
import type { ConsensusEngine, ProposalResult } from "../../../host/consensus/engine/engine.js";
import { type AppendLog, bytes, type ControlledStorage, text } from "./helpers.js";

/**
 * One engine under test, ready to take proposals: `engine` leads, `machine` and `storage` are
 * its own. `run(ticks)` advances logical time and lets every write and message complete;
 * `restart()` stops everything and starts again on the same storage, after which `engine` and
 * `machine` name the new leader.
 */
export interface EngineFixture {
  readonly engine: ConsensusEngine;
  readonly machine: AppendLog;
  readonly storage: ControlledStorage;
  run(ticks: number): Promise<void>;
  restart(): Promise<void>;
}

/** Settles `promise` into its value or its `ConsensusError`, so tests can inspect either. */
async function outcome(promise: Promise<ProposalResult>): Promise<ProposalResult | ConsensusError> {
  try {
    return await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ConsensusError);
    return error as ConsensusError;
  }
}

function code(result: ProposalResult | ConsensusError | undefined): string {
  return result instanceof ConsensusError ? result.code : "ok";
}

/** Resolves once `promise` settled (either way), recording that it did. */
function track<T>(promise: Promise<T>): { settled: boolean; done: Promise<unknown> } {
  const state = { settled: false, done: Promise.resolve() as Promise<unknown> };
  state.done = promise.then(
    () => {
      state.settled = true;
    },
    () => {
      state.settled = true;
    },
  );
  return state;
}

/**
 * The contract every {@link ConsensusEngine} meets, run against the single-node engine and a
 * Multi-Paxos cluster alike (they share one driver; this keeps it that way).
 */
export function runEngineContract(name: string, create: () => Promise<EngineFixture>): void {
  describe(`${name} (engine contract)`, () => {
    it("commits proposals, applies them in order and answers with their results", async () => {
      const fixture = await create();
      const pending = ["a", "b", "c"].map((value) => fixture.engine.propose(bytes(value)));
      await fixture.run(3);
      const results = await Promise.all(pending);
      expect(results.map((result) => text(result.result))).toEqual(["1", "2", "3"]);
      expect(results.every((result) => result.leaderId === fixture.engine.nodeId())).toBe(true);
      expect(fixture.machine.items).toEqual(["a", "b", "c"]);
      const last = Math.max(...results.map((result) => result.index));
      expect(fixture.engine.lastAppliedIndex()).toBeGreaterThanOrEqual(last);
      await fixture.engine.waitForCommit(last);
    });

    it("applies a retried request once and answers every copy with the first result", async () => {
      const fixture = await create();
      const request = { clientId: "client", requestId: 1 };
      const first = fixture.engine.propose(bytes("once"), request);
      const retry = fixture.engine.propose(bytes("once"), request);
      await fixture.run(3);
      expect(text((await first).result)).toBe("1");
      expect(text((await retry).result)).toBe("1");
      const late = fixture.engine.propose(bytes("once"), request);
      await fixture.run(3);
      expect(text((await late).result)).toBe("1");
      expect(fixture.machine.items).toEqual(["once"]);
    });

    it("restarts from its storage: replays the log and keeps answering retries", async () => {
      const fixture = await create();
      for (let i = 1; i <= 5; i += 1) {
        const pending = fixture.engine.propose(bytes(`v${i}`), { clientId: "c", requestId: i });
        await fixture.run(2);
        await pending;
      }
      await fixture.restart();
      expect(fixture.machine.items).toEqual(["v1", "v2", "v3", "v4", "v5"]);
      const retry = fixture.engine.propose(bytes("v5"), { clientId: "c", requestId: 5 });
      await fixture.run(3);
      expect(text((await retry).result)).toBe("5");
      expect(fixture.machine.items).toHaveLength(5);
    });

    it("halts on a storage failure and settles every proposal and waiter", async () => {
      const fixture = await create();
      fixture.storage.failWrites();
      const proposals = ["x", "y", "z"].map((value) =>
        outcome(fixture.engine.propose(bytes(value))),
      );
      const waiter = track(fixture.engine.waitForCommit(fixture.engine.lastAppliedIndex() + 1));
      await fixture.run(2);
      const outcomes = await Promise.all(proposals);
      // A proposal in a slot whose write failed has an unknown fate (Indeterminate); one still
      // queued was never proposed and gets the halt's own error.
      expect(outcomes.map(code)[0]).toBe("Indeterminate");
      for (const result of outcomes) {
        expect(["Indeterminate", "StorageFailure"]).toContain(code(result));
      }
      await waiter.done;
      expect(waiter.settled).toBe(true);
      const after = await outcome(fixture.engine.propose(bytes("later")));
      expect(code(after)).toBe("StorageFailure");
      expect(fixture.engine.isLeader()).toBe(false);
      expect(fixture.machine.items).toEqual([]);
    });

    it("stop settles every proposal and waiter, then waits for the write in flight", async () => {
      const fixture = await create();
      fixture.storage.holdWrites();
      const proposals = ["x", "y"].map((value) => outcome(fixture.engine.propose(bytes(value))));
      const waiter = track(fixture.engine.waitForCommit(fixture.engine.lastAppliedIndex() + 1));
      await fixture.run(1);
      expect(fixture.storage.heldWrites()).toBeGreaterThan(0);
      const stopped = track(fixture.engine.stop());
      const outcomes = await Promise.all(proposals);
      expect(outcomes.map(code).every((c) => c === "Indeterminate" || c === "Stopped")).toBe(true);
      await waiter.done;
      expect(waiter.settled).toBe(true);
      expect(stopped.settled).toBe(false);
      fixture.storage.releaseWrites();
      await stopped.done;
      expect(stopped.settled).toBe(true);
      expect(code(await outcome(fixture.engine.propose(bytes("after"))))).toBe("Stopped");
    });

    it("times a proposal out when it cannot commit within its deadline", async () => {
      const fixture = await create();
      fixture.storage.holdWrites();
      const late = outcome(fixture.engine.propose(bytes("slow"), { timeoutTicks: 3 }));
      await fixture.run(4);
      expect(code(await late)).toBe("Timeout");
      fixture.storage.releaseWrites();
      await fixture.run(2);
      // The write was only slow: the command commits after all, exactly once.
      expect(fixture.machine.items).toEqual(["slow"]);
    });

    it("rejects malformed request identities with InvalidArgument", async () => {
      const fixture = await create();
      const bad = [
        fixture.engine.propose(bytes("x"), { clientId: "", requestId: 1 }),
        fixture.engine.propose(bytes("x"), { clientId: "\u0000x", requestId: 1 }),
        fixture.engine.propose(bytes("x"), { clientId: "c", requestId: 0 }),
        fixture.engine.propose(bytes("x"), { clientId: "c", requestId: 1.5 }),
        // One byte over the limit the wire codec carries (2-byte characters).
        fixture.engine.propose(bytes("x"), { clientId: `${"é".repeat(512)}x`, requestId: 1 }),
      ];
      const codes = (await Promise.all(bad.map(outcome))).map(code);
      expect(codes).toEqual([
        "InvalidArgument",
        "InvalidArgument",
        "InvalidArgument",
        "InvalidArgument",
        "InvalidArgument",
      ]);
      // At the limit exactly, the command commits.
      const atLimit = fixture.engine.propose(bytes("x"), {
        clientId: "é".repeat(512),
        requestId: 1,
      });
      await fixture.run(3);
      await atLimit;
    });

    it("answers a retry of an expired session with SessionExpired", async () => {
      const fixture = await create();
      const first = fixture.engine.propose(bytes("a"), { clientId: "old", requestId: 1 });
      await fixture.run(2);
      await first;
      const unknown = outcome(
        fixture.engine.propose(bytes("b"), { clientId: "fresh", requestId: 999 }),
      );
      await fixture.run(2);
      expect(code(await unknown)).toBe("SessionExpired");
      expect(fixture.machine.items).toEqual(["a"]);
    });

    it("answers membership changes with NotImplemented", async () => {
      const fixture = await create();
      const error = await fixture.engine.removeMember("n2").catch((caught: unknown) => caught);
      expect((error as ConsensusError).code).toBe("NotImplemented");
    });
  });
}
