import { describe, expect, it } from "vitest";
import { decodeOutcome } from "../../../host/replication/envelope.js";
import { ReplicationError } from "../../../host/replication/errors.js";
import {
  encodeSessionCommand,
  type SessionResult,
} from "../../../host/replication/sessions/session-commands.js";
import type { SessionEvent } from "../../../host/replication/sessions/session-types.js";
import type { Engine } from "../../../host/runtime/engine.js";
import { CallError } from "../../../host/runtime/errors.js";
import { counterVariant, editManifest } from "../../fixtures/counter-variants.js";
import { consoleWith, counterRuntime, Driver, u32 } from "./session-helpers.js";

function created(result: SessionResult) {
  if (result.op !== "create") throw new Error(`expected a create result, got ${result.op}`);
  return result.session;
}

async function rejection(promise: Promise<unknown>): Promise<ReplicationError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ReplicationError) return error;
    throw error;
  }
  throw new Error("expected a rejection");
}

describe("the sessions part", () => {
  it("creates a session with an id from its log position, steps it and closes it", async () => {
    const { engine } = await counterRuntime();
    const { machine, sessions } = consoleWith(engine);
    const driver = new Driver(machine);
    const session = created(await driver.create(3n));
    expect(session.sessionId).toBe("s1.0");
    expect(session.owner).toBe("alice");
    expect(session.step).toBe(0);
    expect([...new Float32Array(session.last.obs.slice().buffer)]).toEqual([3, 0]);
    expect(session.buildId).toMatch(/^[0-9a-f]{64}$/);

    const stepped = await driver.step("s1.0", 0, 1);
    expect(stepped).toMatchObject({ op: "step", sessionId: "s1.0" });
    if (stepped.op !== "step") throw new Error("not a step");
    expect(stepped.transition.step).toBe(1);
    expect(stepped.transition.reward).toBe(2);
    expect([...stepped.transition.action]).toEqual([...u32(1)]);
    expect(sessions.get("s1.0")?.step).toBe(1);

    expect(await driver.close("s1.0")).toEqual({ op: "close", sessionId: "s1.0", finalStep: 1 });
    expect(sessions.get("s1.0")).toBeUndefined();
    expect((await rejection(driver.step("s1.0", 1, 0))).code).toBe("NotFound");
    expect((await rejection(driver.close("s1.0"))).code).toBe("NotFound");
  });

  it("answers a stale expected step with the current step, changing nothing", async () => {
    const { engine } = await counterRuntime();
    const { machine, sessions } = consoleWith(engine);
    const driver = new Driver(machine);
    await driver.create();
    await driver.step("s1.0", 0, 0);
    const before = sessions.get("s1.0");
    expect(await driver.step("s1.0", 0, 0)).toEqual({
      op: "stale",
      sessionId: "s1.0",
      currentStep: 1,
    });
    expect(await driver.step("s1.0", 5, 0)).toMatchObject({ op: "stale", currentStep: 1 });
    expect(sessions.get("s1.0")?.state).toEqual(before?.state);
  });

  it("refuses steps once the episode is over", async () => {
    const { engine } = await counterRuntime();
    const { machine } = consoleWith(engine);
    const driver = new Driver(machine);
    await driver.create(0n);
    // The counter truncates after 6 steps of +1.
    for (let step = 0; step < 6; step += 1) await driver.step("s1.0", step, 0);
    const error = await rejection(driver.step("s1.0", 6, 0));
    expect(error.code).toBe("EpisodeOver");
  });

  it("records deterministic guest failures and leaves the session unchanged", async () => {
    const { engine } = await counterRuntime();
    const { machine, sessions } = consoleWith(engine);
    const driver = new Driver(machine);
    await driver.create(1n); // value 1: odd, so action 2 is illegal
    const failures: Record<number, string> = { 2: "IllegalAction", 3: "BadAction", 7: "Trap" };
    for (const [action, code] of Object.entries(failures)) {
      const result = await driver.step("s1.0", 0, Number(action));
      expect(result).toMatchObject({ op: "failed", sessionId: "s1.0", failure: { code } });
    }
    expect(sessions.get("s1.0")?.step).toBe(0);
    expect(sessions.exportOf("s1.0")?.actions).toEqual([]);
    // The session still works after a trap.
    expect(await driver.step("s1.0", 0, 0)).toMatchObject({ op: "step" });
  });

  it("records running out of fuel as BudgetExceeded", async () => {
    const { engine } = await counterRuntime();
    const { machine } = consoleWith(engine);
    const driver = new Driver(machine);
    await driver.create();
    expect(await driver.step("s1.0", 0, 8)).toMatchObject({
      op: "failed",
      failure: { code: "BudgetExceeded" },
    });
  });

  it("records a create the cartridge refuses without opening a session", async () => {
    const { engine } = await counterRuntime();
    const { machine, sessions } = consoleWith(engine);
    const driver = new Driver(machine);
    const badHint = await driver.run({
      op: "create",
      envId: "counter-v1",
      buildId: "",
      seed: 0n,
      hint: u32(50),
      stampMs: 0,
    });
    expect(badHint).toMatchObject({ op: "failed", sessionId: "", failure: { code: "BadHint" } });
    const unknown = await driver.run({
      op: "create",
      envId: "nope-v1",
      buildId: "",
      seed: 0n,
      hint: new Uint8Array(),
      stampMs: 0,
    });
    expect(unknown).toMatchObject({ op: "failed", failure: { code: "UnknownEnv" } });
    expect(sessions.size()).toBe(0);
  });

  it("halts (rejects) on a node fault instead of recording it", async () => {
    const { engine } = await counterRuntime();
    const faulty: Engine = Object.create(engine) as Engine;
    faulty.reset = () => Promise.reject(new CallError("Timeout", "watchdog"));
    const { machine } = consoleWith(engine);
    const faultyMachine = consoleWith(faulty as typeof engine).machine;
    await new Driver(machine).create();
    await expect(new Driver(faultyMachine).create()).rejects.toThrow("watchdog");
  });

  it("limits sessions in total, per client, steps and action bytes per session", async () => {
    const { engine } = await counterRuntime();
    const { machine } = consoleWith(engine, {
      maxSessions: 3,
      maxSessionsPerClient: 2,
      maxStepsPerSession: 2,
      maxActionBytesPerSession: 100,
    });
    const driver = new Driver(machine);
    await driver.create(0n, 0, "alice");
    await driver.create(0n, 0, "alice");
    expect((await rejection(driver.create(0n, 0, "alice"))).code).toBe("LimitExceeded");
    await driver.create(0n, 0, "bob");
    expect((await rejection(driver.create(0n, 0, "carol"))).code).toBe("LimitExceeded");
    await driver.step("s1.0", 0, 0);
    await driver.step("s1.0", 1, 0);
    const steps = await rejection(driver.step("s1.0", 2, 0));
    expect(steps.code).toBe("LimitExceeded");
    expect(steps.message).toContain("at most 2");

    const bytes = consoleWith(engine, { maxActionBytesPerSession: 6 });
    const small = new Driver(bytes.machine);
    await small.create();
    await small.step("s1.0", 0, 0);
    expect((await rejection(small.step("s1.0", 1, 0))).code).toBe("LimitExceeded");
  });

  it("limits the bytes all sessions hold together, at create and at step", async () => {
    const { engine } = await counterRuntime();
    // A fresh counter session holds 63 bytes (state, last observation, mask, reward); a step
    // adds its 4-byte action twice (the export and the last transition), then once per step.
    const { machine, sessions } = consoleWith(engine, { maxTotalBytes: 63 * 2 + 8 });
    const driver = new Driver(machine);
    await driver.create();
    await driver.create();
    expect((await rejection(driver.create())).message).toContain("at most 134");
    expect(await driver.step("s1.0", 0, 0)).toMatchObject({ op: "step" });
    const over = await rejection(driver.step("s2.0", 0, 0));
    expect(over.code).toBe("LimitExceeded");
    expect(sessions.get("s2.0")?.step).toBe(0);
    await driver.close("s1.0");
    expect(await driver.step("s2.0", 0, 0)).toMatchObject({ op: "step" });
  });

  it("expires idle sessions by log position, oldest activity first", async () => {
    const { engine } = await counterRuntime();
    const { machine, sessions } = consoleWith(engine, { idleExpirySlots: 4 });
    const events: SessionEvent[] = [];
    sessions.subscribe((event) => events.push(event));
    const driver = new Driver(machine);
    await driver.create(); // s1.0 at slot 1
    await driver.create(); // s2.0 at slot 2
    await driver.step("s1.0", 0, 0); // slot 3: s1.0 is now the most recent
    await driver.step("s1.0", 1, 0); // slot 4
    await driver.step("s1.0", 2, 0); // slot 5
    expect(sessions.get("s2.0")).toBeDefined();
    await driver.step("s1.0", 3, 0); // slot 6: s2.0 idle for 4 slots
    expect(sessions.get("s2.0")).toBeUndefined();
    expect(sessions.get("s1.0")).toBeDefined();
    expect(events.at(-2)).toEqual({
      kind: "closed",
      sessionId: "s2.0",
      index: 6,
      reason: "expired",
    });
    expect((await rejection(driver.step("s2.0", 0, 0))).code).toBe("NotFound");
  });

  it("expires idle sessions by leader-stamped time, and that time never goes back", async () => {
    const { engine } = await counterRuntime();
    const { machine, sessions } = consoleWith(engine, { idleExpiryMs: 1000 });
    const driver = new Driver(machine);
    await driver.create(0n, 10_000); // s1.0 active at 10 000
    await driver.create(0n, 10_500); // s2.0 active at 10 500
    // A stamp from the past (a new leader with a slow clock) counts as the part's latest time.
    await driver.step("s2.0", 0, 0, 5); // s2.0 active at 10 500
    expect(sessions.get("s2.0")?.lastActiveMs).toBe(10_500);
    await driver.step("s2.0", 1, 0, 11_000); // s1.0 idle for 1000 ms
    expect(sessions.get("s1.0")).toBeUndefined();
    expect(sessions.get("s2.0")).toBeDefined();
  });

  it("numbers the creates of one slot and counts them per client", async () => {
    const { engine } = await counterRuntime();
    const { machine, sessions } = consoleWith(engine);
    const command = encodeSessionCommand({
      op: "create",
      envId: "counter-v1",
      buildId: "",
      seed: 1n,
      hint: new Uint8Array(),
      stampMs: 0,
    });
    await machine.applyBatch([
      { command, context: { index: 7, clientId: "a", requestId: 1 } },
      { command, context: { index: 7, clientId: "b", requestId: 1 } },
      { command, context: { index: 7, clientId: "a", requestId: 2 } },
    ]);
    expect(sessions.list(undefined, undefined, 10).map((s) => [s.sessionId, s.owner])).toEqual([
      ["s7.0", "a"],
      ["s7.1", "b"],
      ["s7.2", "a"],
    ]);
    expect(sessions.list("a", { index: 7, ordinal: 0 }, 10).map((s) => s.sessionId)).toEqual([
      "s7.2",
    ]);
  });

  it("round-trips a snapshot canonically and continues identically after restore", async () => {
    const { engine } = await counterRuntime();
    const { machine, sessions } = consoleWith(engine);
    const driver = new Driver(machine);
    await driver.create(1n);
    await driver.create(2n, 0, "bob");
    await driver.step("s1.0", 0, 0);
    await driver.step("s2.0", 0, 1);
    await driver.step("s1.0", 1, 7); // a recorded trap
    const snapshot = machine.snapshot();

    const copy = consoleWith(engine);
    copy.machine.restore(snapshot);
    expect(copy.machine.snapshot()).toEqual(snapshot);
    expect(copy.sessions.get("s1.0")).toEqual(sessions.get("s1.0"));
    expect(copy.sessions.exportOf("s2.0")).toEqual(sessions.exportOf("s2.0"));
    expect(copy.sessions.pinnedBuilds()).toEqual(sessions.pinnedBuilds());

    const other = new Driver(copy.machine);
    other.index = driver.index;
    expect(await other.step("s2.0", 1, 0)).toEqual(await driver.step("s2.0", 1, 0));
    expect(copy.machine.snapshot()).toEqual(machine.snapshot());

    const corrupt = snapshot.slice();
    corrupt.set([(corrupt.at(-1) ?? 0) ^ 0xff], corrupt.length - 1);
    const truncated = snapshot.subarray(0, snapshot.length - 3);
    expect(() => consoleWith(engine).machine.restore(truncated)).toThrow(ReplicationError);
    // A flipped byte either fails to decode or decodes to a different canonical state.
    try {
      const fresh = consoleWith(engine);
      fresh.machine.restore(corrupt);
      expect(fresh.machine.snapshot()).toEqual(corrupt);
    } catch (error) {
      expect(error).toBeInstanceOf(ReplicationError);
    }
  });

  it("keeps a session on its pinned build across a hot reload, and pins it", async () => {
    const { registry, engine } = await counterRuntime();
    const { machine, sessions } = consoleWith(engine);
    const driver = new Driver(machine);
    const old = created(await driver.create(0n));
    // A new build of counter-v1 (another description, so other bytes) from the same file, as a
    // hot reload sees it, becomes current.
    const next = await registry.register(
      await counterVariant(editManifest({ description: "the next build" })),
      "counter.wasm",
    );
    expect(next.buildId).not.toBe(old.buildId);
    const fresh = created(await driver.create(0n));
    expect(fresh.buildId).toBe(next.buildId);
    // The old session steps on its own build; action 7 traps only in the old (failing) build.
    expect(await driver.step(old.sessionId, 0, 7)).toMatchObject({
      op: "failed",
      failure: { code: "Trap" },
    });
    expect(await driver.step(fresh.sessionId, 0, 7)).toMatchObject({
      op: "failed",
      failure: { code: "BadAction" },
    });
    expect(sessions.isPinned("counter-v1", old.buildId)).toBe(true);
    expect(sessions.pinnedBuilds()).toHaveLength(2);
    await driver.close(old.sessionId);
    expect(sessions.isPinned("counter-v1", old.buildId)).toBe(false);
    expect(sessions.pinnedBuilds()).toEqual([{ envId: "counter-v1", buildId: next.buildId }]);
  });

  it("refuses malformed commands as BadCommand", async () => {
    const { engine } = await counterRuntime();
    const { machine } = consoleWith(engine);
    for (const body of [
      [3],
      [3, 9, 0, 0, 0, 0, 0, 0, 0, 0],
      [3, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 120],
    ]) {
      const outcome = decodeOutcome(
        await machine.apply(Uint8Array.from(body), { index: 1, clientId: "c", requestId: 1 }),
      );
      expect(outcome).toMatchObject({ ok: false, code: "BadCommand" });
    }
  });
});
