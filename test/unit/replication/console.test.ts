import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { SingleNodeEngine } from "../../../host/consensus/engine/single-node-engine.js";
import { MemoryStorage } from "../../../host/consensus/storage/memory.js";
import { ReplicatedConsole, type WatchEvent } from "../../../host/replication/console.js";
import { ConsoleStateMachine } from "../../../host/replication/console-state-machine.js";
import { ReplicationError, StaleStepError } from "../../../host/replication/errors.js";
import { KvStore } from "../../../host/replication/kv/kv-store.js";
import { SessionsPart } from "../../../host/replication/sessions/session-part.js";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import { CallError } from "../../../host/runtime/errors.js";
import { InlineEngine } from "../../../host/runtime/inline-engine.js";
import { Registry } from "../../../host/runtime/registry.js";
import { u32 } from "./session-helpers.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
/** Built by `npm run build` (the test script builds first). */
const TICTACTOE = path.join(root, "build", "cartridges", "tictactoe-v1.wasm");

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

/** A single-node console over memory storage with the built tic-tac-toe cartridge. */
async function singleNodeConsole(
  storage = new MemoryStorage(),
  options: { snapshotIntervalSlots?: number } = {},
) {
  counters = new Map();
  const registry = new Registry();
  await registry.register(await readFile(TICTACTOE), TICTACTOE);
  const runtime = new InlineEngine(new CartridgeEngine(registry));
  const sessions = new SessionsPart(runtime);
  const consensus = new SingleNodeEngine({
    nodeId: "solo",
    storage,
    stateMachine: new ConsoleStateMachine([new KvStore(), sessions]),
    ...options,
  });
  await consensus.start();
  let clock = 1_000;
  const facade = new ReplicatedConsole({ consensus, sessions, runtime, nowMs: () => clock++ });
  stops.push(async () => {
    facade.close();
    await consensus.stop();
  });
  return { facade, consensus, sessions, runtime };
}

/** Request ids per client, new for each console (a new client starts at id 1). */
let counters = new Map<string, number>();
const ids = (clientId = "alice") => {
  const requestId = (counters.get(clientId) ?? 0) + 1;
  counters.set(clientId, requestId);
  return { clientId, requestId };
};

async function collect(events: AsyncIterable<WatchEvent>, count: number): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  for await (const event of events) {
    out.push(event);
    if (out.length === count) break;
  }
  return out;
}

describe("ReplicatedConsole over a single-node engine", () => {
  it("plays a two-player session with optimistic concurrency", async () => {
    const { facade } = await singleNodeConsole();
    const { index, session } = await facade.createSession(
      { envId: "tictactoe-v1", seed: 5n },
      ids("alice"),
    );
    expect(session.sessionId).toBe(`s${index}.0`);
    expect(session.last.currentPlayer).toBe(0);
    expect(session.last.legalMask).toHaveLength(9);

    const first = await facade.stepSession(
      { sessionId: session.sessionId, expectedStep: 0, action: u32(4) },
      ids("alice"),
    );
    expect(first.transition.step).toBe(1);
    expect(first.transition.currentPlayer).toBe(1);
    // The second player, who had not seen that move, is told where the session is.
    const stale = await facade
      .stepSession({ sessionId: session.sessionId, expectedStep: 0, action: u32(0) }, ids("bob"))
      .catch((error: unknown) => error);
    expect(stale).toBeInstanceOf(StaleStepError);
    expect((stale as StaleStepError).currentStep).toBe(1);
    expect((stale as StaleStepError).code).toBe("StaleStep");

    // The occupied centre is an illegal move: a recorded guest failure, the session unchanged.
    const illegal = await facade
      .stepSession({ sessionId: session.sessionId, expectedStep: 1, action: u32(4) }, ids("bob"))
      .catch((error: unknown) => error);
    expect(illegal).toBeInstanceOf(CallError);
    expect((illegal as CallError).code).toBe("IllegalAction");

    const second = await facade.stepSession(
      { sessionId: session.sessionId, expectedStep: 1, action: u32(0) },
      ids("bob"),
    );
    const read = await facade.getSession(session.sessionId, { minAppliedIndex: second.index });
    expect(read.step).toBe(2);
    expect(read.last).toEqual(second.transition);
    expect(read.lastActiveMs).toBeGreaterThan(session.lastActiveMs);

    expect(await facade.closeSession(session.sessionId, ids("alice"))).toMatchObject({
      finalStep: 2,
    });
    await expect(facade.getSession(session.sessionId)).rejects.toMatchObject({
      code: "NotFound",
    });
  });

  it("exports a session that the stateless engine replays byte for byte", async () => {
    const { facade, runtime } = await singleNodeConsole();
    const { session } = await facade.createSession({ envId: "tictactoe-v1", seed: 9n }, ids());
    const moves = [0, 4, 1, 5, 2]; // X wins on the top row
    const transitions = [session.last];
    for (const [step, move] of moves.entries()) {
      const { transition } = await facade.stepSession(
        { sessionId: session.sessionId, expectedStep: step, action: u32(move) },
        ids(),
      );
      transitions.push(transition);
    }
    expect(transitions.at(-1)?.terminated).toBe(true);
    await expect(
      facade.stepSession(
        { sessionId: session.sessionId, expectedStep: moves.length, action: u32(8) },
        ids(),
      ),
    ).rejects.toMatchObject({ code: "EpisodeOver" });

    const exported = await facade.exportSession(session.sessionId);
    expect(exported).toMatchObject({ envId: "tictactoe-v1", buildId: session.buildId, seed: 9n });
    expect(exported.actions).toEqual(moves.map(u32));
    const selector = { envId: exported.envId, buildId: exported.buildId };
    let replay = await runtime.reset(selector, exported.seed, exported.hint);
    expect(replay.obs).toEqual(transitions[0]?.obs);
    for (const [i, action] of exported.actions.entries()) {
      replay = await runtime.step(selector, replay.state, action);
      expect(replay.obs).toEqual(transitions[i + 1]?.obs);
      expect(replay.playerRewards).toEqual(transitions[i + 1]?.playerRewards);
    }
    expect((await facade.getSession(session.sessionId)).state).toEqual(replay.state);
  });

  it("applies a retried request once and answers it with the first result", async () => {
    const { facade, sessions } = await singleNodeConsole();
    const { session } = await facade.createSession({ envId: "tictactoe-v1", seed: 1n }, ids());
    const same = ids();
    const step = { sessionId: session.sessionId, expectedStep: 0, action: u32(3) };
    const first = await facade.stepSession(step, same);
    const retry = await facade.stepSession(step, same);
    expect(retry.transition).toEqual(first.transition);
    // The retry sat in a later slot: its index still serves as a read-your-writes bound.
    expect(retry.index).toBeGreaterThan(first.index);
    expect(sessions.get(session.sessionId)?.step).toBe(1);
  });

  it("steps many sessions proposed together, and lists them by owner in pages", async () => {
    const { facade } = await singleNodeConsole();
    const created = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        facade.createSession(
          { envId: "tictactoe-v1", seed: BigInt(i) },
          ids(i % 2 ? "bob" : "ann"),
        ),
      ),
    );
    const steps = await Promise.all(
      created.map(({ session }, i) =>
        facade.stepSession(
          { sessionId: session.sessionId, expectedStep: 0, action: u32(i % 9) },
          ids(),
        ),
      ),
    );
    expect(steps.map((s) => s.transition.step)).toEqual(Array(8).fill(1));

    const first = await facade.listSessions({ owner: "ann", pageSize: 3 });
    expect(first.sessions.map((s) => s.owner)).toEqual(["ann", "ann", "ann"]);
    expect(first.nextPageToken).toBe(first.sessions[2]?.sessionId);
    const rest = await facade.listSessions({ owner: "ann", pageToken: first.nextPageToken });
    expect(rest.sessions).toHaveLength(1);
    expect(rest.nextPageToken).toBe("");
    const all = await facade.listSessions();
    expect(all.sessions.map((s) => s.sessionId)).toEqual(created.map((c) => c.session.sessionId));
    await expect(facade.listSessions({ pageSize: 0 })).rejects.toMatchObject({
      code: "BadArgument",
    });
  });

  it("watches a session from an old step, live, to its close; and from a re-simulated past", async () => {
    const { facade, consensus, sessions, runtime } = await singleNodeConsole();
    const { session } = await facade.createSession({ envId: "tictactoe-v1", seed: 2n }, ids());
    const id = session.sessionId;
    await facade.stepSession({ sessionId: id, expectedStep: 0, action: u32(0) }, ids());

    const watched = collect(facade.watch(id, 0), 5);
    await facade.stepSession({ sessionId: id, expectedStep: 1, action: u32(1) }, ids());
    await facade.stepSession({ sessionId: id, expectedStep: 2, action: u32(2) }, ids());
    await facade.closeSession(id, ids());
    const events = await watched;
    expect(events.map((e) => (e.kind === "transition" ? e.transition.step : e.reason))).toEqual([
      0,
      1,
      2,
      3,
      "closed",
    ]);

    // A facade that saw none of it (a node restored from a snapshot) re-simulates the past.
    const { session: other } = await facade.createSession(
      { envId: "tictactoe-v1", seed: 3n },
      ids(),
    );
    for (const [step, move] of [4, 0, 8].entries()) {
      await facade.stepSession(
        { sessionId: other.sessionId, expectedStep: step, action: u32(move) },
        ids(),
      );
    }
    const late = new ReplicatedConsole({ consensus, sessions, runtime });
    stops.push(async () => late.close());
    const replayed = await collect(late.watch(other.sessionId, 1), 3);
    const fromLog = await collect(facade.watch(other.sessionId, 1), 3);
    expect(replayed).toEqual(fromLog);
    expect(replayed.map((e) => (e.kind === "transition" ? e.transition.step : -1))).toEqual([
      1, 2, 3,
    ]);

    await expect(collect(facade.watch("s999.0", 0), 1)).rejects.toMatchObject({ code: "NotFound" });
    expect(() => facade.watch("x", 0)).toThrow(ReplicationError);
  });

  it("keeps sessions across a restart from storage (snapshots and the log after them)", async () => {
    const storage = new MemoryStorage();
    const first = await singleNodeConsole(storage, { snapshotIntervalSlots: 3 });
    const { session } = await first.facade.createSession(
      { envId: "tictactoe-v1", seed: 4n },
      ids(),
    );
    for (const [step, move] of [0, 4, 8, 2].entries()) {
      await first.facade.stepSession(
        { sessionId: session.sessionId, expectedStep: step, action: u32(move) },
        ids(),
      );
    }
    const before = await first.facade.getSession(session.sessionId);
    const snapshot = first.consensus.lastAppliedIndex();
    await first.consensus.stop();
    const second = await singleNodeConsole(storage, { snapshotIntervalSlots: 3 });
    expect(second.consensus.lastAppliedIndex()).toBe(snapshot);
    expect(await second.facade.getSession(session.sessionId)).toEqual(before);
    expect(second.sessions.isPinned("tictactoe-v1", before.buildId)).toBe(true);
  });

  it("wakes a waiting watch when the state is replaced by a snapshot", async () => {
    const { facade, sessions } = await singleNodeConsole();
    const before = sessions.snapshot();
    const { session } = await facade.createSession({ envId: "tictactoe-v1", seed: 2n }, ids());
    const events = collect(facade.watch(session.sessionId, 0), 3);
    await new Promise((resolve) => setImmediate(resolve));
    // As a follower installing a snapshot from before the session existed.
    sessions.restore(before);
    expect((await events).map((e) => e.kind)).toEqual(["transition", "closed"]);
  });

  it("ends a watch quietly when its signal aborts", async () => {
    const { facade } = await singleNodeConsole();
    const { session } = await facade.createSession({ envId: "tictactoe-v1", seed: 2n }, ids());
    const abort = new AbortController();
    const events = collect(facade.watch(session.sessionId, 0, abort.signal), 10);
    await new Promise((resolve) => setImmediate(resolve));
    abort.abort();
    expect((await events).length).toBe(1);
  });

  it("bounds a read-your-writes wait by the signal, and checks its arguments", async () => {
    const { facade, consensus } = await singleNodeConsole();
    const abort = new AbortController();
    const waiting = facade.getSession("s1.0", {
      minAppliedIndex: consensus.lastAppliedIndex() + 1000,
      signal: abort.signal,
    });
    abort.abort();
    await expect(waiting).rejects.toMatchObject({ code: "Cancelled" });
    await expect(facade.getSession("bogus")).rejects.toMatchObject({ code: "BadArgument" });
    await expect(
      facade.createSession({ envId: "tictactoe-v1", seed: 1n, hint: new Uint8Array(5000) }, ids()),
    ).rejects.toMatchObject({ code: "LimitExceeded" });
    await expect(facade.createSession({ envId: "nope-v1", seed: 1n }, ids())).rejects.toMatchObject(
      { code: "UnknownEnv" },
    );
  });
});
