import { credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineCallError, EngineClient, type GameSession } from "../../host/client/index.js";
import {
  type CreateSessionResponse,
  SessionsClient,
  type StepSessionResponse,
} from "../../host/proto/generated/sessions/v1/sessions.js";
import { type ConsoleHarness, startConsoleHarness } from "./console-harness.js";

/** The first legal action of a tictactoe position. */
function firstLegal(mask: Uint8Array): number {
  const action = mask.indexOf(1);
  if (action < 0) throw new Error("no legal action");
  return action;
}

async function failure(promise: Promise<unknown>): Promise<EngineCallError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof EngineCallError) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
}

function u32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value, 0);
  return bytes;
}

/** A generated-client call as a promise, keeping the error's metadata. */
function call<Res>(
  run: (callback: (error: ServiceError | null, response: Res) => void) => void,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    run((error, response) => (error ? reject(error) : resolve(response)));
  });
}

describe("the Sessions service over the replicated console", () => {
  let h: ConsoleHarness;
  let raw: SessionsClient;

  beforeAll(async () => {
    h = await startConsoleHarness({ limits: { maxReadWaitMs: 200, maxWatchStreamsPerClient: 2 } });
    raw = new SessionsClient(h.server.address, credentials.createInsecure());
  });

  afterAll(async () => {
    raw?.close();
    await h?.close();
  });

  it("plays a session to its end, and its export replays bit-identically on the stateless Engine", async () => {
    const session = await h.client.session("tictactoe-v1", { seed: 7 });
    expect(session.id).toMatch(/^s\d+\.\d+$/);
    expect(session.buildId).toMatch(/^[0-9a-f]{64}$/);
    expect(session.expectedStep).toBe(0);
    let mask = session.first.last?.legalMask ?? new Uint8Array();
    let done = false;
    while (!done) {
      const t = await session.step(firstLegal(mask));
      expect(t.step).toBe(session.expectedStep);
      mask = t.legalMask;
      done = t.terminated || t.truncated;
    }
    const info = await session.get();
    expect(info.episodeOver).toBe(true);
    await expect(session.step(0)).rejects.toMatchObject({
      code: status.FAILED_PRECONDITION,
      errorCode: "EpisodeOver",
    });

    const exported = await session.export();
    expect(exported).toMatchObject({ envId: "tictactoe-v1", buildId: session.buildId, seed: 7n });
    expect(exported.actions.length).toBe(info.step);
    let state = (await h.client.reset("tictactoe-v1", exported.seed, { buildId: exported.buildId }))
      .state;
    for (const action of exported.actions) {
      state = (await h.client.step("tictactoe-v1", state, action, { buildId: exported.buildId }))
        .state;
    }
    expect(Buffer.from(state).equals(Buffer.from(info.state))).toBe(true);

    expect(await session.close()).toBe(info.step);
    const gone = await failure(session.get());
    expect(gone.code).toBe(status.NOT_FOUND);
    expect(gone.errorCode).toBe("NotFound");
  });

  it("refuses a stale step with FAILED_PRECONDITION and the current step, and the loser catches up", async () => {
    const other = await EngineClient.connect(h.server.address);
    try {
      const alice = await h.client.session("tictactoe-v1", { seed: 1 });
      const bob = await other.attachSession(alice.id);
      expect(bob.expectedStep).toBe(0);
      await alice.step(4);
      const stale = await failure(bob.step(0));
      expect(stale.code).toBe(status.FAILED_PRECONDITION);
      expect(stale.errorCode).toBe("StaleStep");
      expect(stale.currentStep).toBe(1);
      expect(stale.message).toMatch(/at step 1/);
      expect(bob.expectedStep).toBe(1);
      const t = await bob.step(0);
      expect(t.step).toBe(2);
      expect((await alice.get()).step).toBe(2);
      await alice.close();
    } finally {
      other.close();
    }
  });

  it("applies a retried create or step (same client id and request id) once and answers it again", async () => {
    const create = { clientId: "retrier", requestId: 1n, envId: "tictactoe-v1", buildId: "" };
    const request = { ...create, seed: 3n, hint: Buffer.alloc(0) };
    const first = await call<CreateSessionResponse>((cb) => raw.createSession(request, cb));
    const again = await call<CreateSessionResponse>((cb) => raw.createSession(request, cb));
    // The same session and reset (a retry is ordered in a later slot, answered with the first
    // result).
    expect(again.session).toEqual(first.session);
    const sessionId = first.session?.sessionId ?? "";
    const step = {
      clientId: "retrier",
      requestId: 2n,
      sessionId,
      expectedStep: 0n,
      action: u32(4),
    };
    const stepped = await call<StepSessionResponse>((cb) => raw.stepSession(step, cb));
    const replayed = await call<StepSessionResponse>((cb) => raw.stepSession(step, cb));
    expect(replayed.transition).toEqual(stepped.transition);
    const session = await h.client.attachSession(sessionId);
    expect(session.expectedStep).toBe(1);
  });

  it("streams a session's transitions from a step, live, then its end", async () => {
    const player = await h.client.session("tictactoe-v1", { seed: 5 });
    await player.step(0);
    const spectator = await h.client.attachSession(player.id);
    const events: string[] = [];
    let driving: Promise<unknown> = Promise.resolve();
    const watched = (async () => {
      for await (const event of spectator.watch({ fromStep: 0 })) {
        events.push(
          event.kind === "transition" ? `step ${event.transition.step}` : `end ${event.reason}`,
        );
        if (event.kind === "transition" && event.transition.step === 1) {
          // The first live step only once the spectator has caught up.
          driving = player.step(4).then(() => player.step(8).then(() => player.close()));
        }
      }
    })();
    await watched;
    await driving;
    expect(events).toEqual(["step 0", "step 1", "step 2", "step 3", "end closed"]);
  });

  it("bounds the watch streams one client address holds open", async () => {
    const session = await h.client.session("tictactoe-v1", { seed: 8 });
    const open = [0, 1].map(() => {
      const stream = raw.watchSession({ sessionId: session.id, fromStep: 0n, minAppliedIndex: 0n });
      // Cancelling it below ends it with CANCELLED, which is expected here.
      stream.on("error", () => undefined);
      return stream;
    });
    // Each stream has sent step 0, so both hold their slot.
    await Promise.all(open.map((stream) => new Promise((resolve) => stream.once("data", resolve))));
    const third = raw.watchSession({ sessionId: session.id, fromStep: 0n, minAppliedIndex: 0n });
    const refused = await new Promise<ServiceError>((resolve) => third.on("error", resolve));
    expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused.details).toMatch(/per-client limit/);
    for (const stream of open) stream.cancel();
    await session.close();
  });

  it("lists sessions by owner, page by page", async () => {
    const owner = await EngineClient.connect(h.server.address, { clientId: "lister" });
    try {
      const ids: string[] = [];
      for (let seed = 0; seed < 3; seed += 1) {
        ids.push((await owner.session("tictactoe-v1", { seed })).id);
      }
      const first = await h.client.listSessions({ owner: "lister", pageSize: 2 });
      expect(first.sessions.map((s) => s.sessionId)).toEqual(ids.slice(0, 2));
      expect(first.sessions.every((s) => s.owner === "lister" && s.last === undefined)).toBe(true);
      const second = await h.client.listSessions({
        owner: "lister",
        pageSize: 2,
        pageToken: first.nextPageToken,
      });
      expect(second.sessions.map((s) => s.sessionId)).toEqual(ids.slice(2));
      expect(second.nextPageToken).toBe("");
    } finally {
      owner.close();
    }
  });

  it("bounds a read waiting for a slot this node never applies (DEADLINE_EXCEEDED)", async () => {
    const session = await h.client.session("tictactoe-v1", { seed: 2 });
    const error = await call((cb) =>
      raw.getSession({ sessionId: session.id, minAppliedIndex: 1_000_000n }, cb),
    ).catch((e: ServiceError) => e);
    expect((error as ServiceError).code).toBe(status.DEADLINE_EXCEEDED);
    expect((error as ServiceError).details).toMatch(/not applied slot 1000000/);
  });

  it("answers bad requests with typed errors and proposes nothing", async () => {
    const applied = h.consensus.lastAppliedIndex();
    const noClient = await call((cb) =>
      raw.createSession(
        {
          clientId: "",
          requestId: 1n,
          envId: "tictactoe-v1",
          buildId: "",
          seed: 0n,
          hint: Buffer.alloc(0),
        },
        cb,
      ),
    ).catch((e: ServiceError) => e);
    expect((noClient as ServiceError).code).toBe(status.INVALID_ARGUMENT);
    const badId = await failure(h.client.attachSession("nonsense"));
    expect(badId.code).toBe(status.INVALID_ARGUMENT);
    expect(h.consensus.lastAppliedIndex()).toBe(applied);

    const unknownEnv = await failure(h.client.session("nope-v1"));
    expect(unknownEnv.code).toBe(status.NOT_FOUND);
    const missing = await failure(h.client.attachSession("s999999.0"));
    expect(missing.code).toBe(status.NOT_FOUND);
  });
});

/** Leadership of a node that follows `leader`. */
function following(leader: ConsoleHarness) {
  return () => ({
    isLeader: () => false,
    status: () => ({ nodeId: "follower", leaderId: "solo", leaderAddress: leader.server.address }),
  });
}

describe("a node that does not lead", () => {
  let leader: ConsoleHarness;
  let follower: ConsoleHarness;
  let forwarder: ConsoleHarness;

  beforeAll(async () => {
    leader = await startConsoleHarness();
    // A second node whose services see `leader` as the leader. It has its own (unused) console;
    // what matters is how its services route writes.
    follower = await startConsoleHarness({ forward: false, leadership: following(leader) });
    forwarder = await startConsoleHarness({ forward: true, leadership: following(leader) });
  });

  afterAll(async () => {
    await forwarder?.close();
    await follower?.close();
    await leader?.close();
  });

  it("refuses writes with UNAVAILABLE naming the leader, and the client goes there by itself", async () => {
    const raw = new SessionsClient(follower.server.address, credentials.createInsecure());
    try {
      const refused = await call((cb) =>
        raw.createSession(
          {
            clientId: "c",
            requestId: 1n,
            envId: "tictactoe-v1",
            buildId: "",
            seed: 0n,
            hint: Buffer.alloc(0),
          },
          new Metadata(),
          cb,
        ),
      ).catch((e: ServiceError) => e);
      expect((refused as ServiceError).code).toBe(status.UNAVAILABLE);
      expect((refused as ServiceError).metadata.get("cartridge-leader-address")).toEqual([
        leader.server.address,
      ]);
    } finally {
      raw.close();
    }

    let session: GameSession | undefined;
    try {
      session = await follower.client.session("tictactoe-v1", { seed: 9 });
      await session.step(4);
      // The session lives on the leader's console: the client followed the hint.
      expect(leader.sessions.get(session.id)?.step).toBe(1);
      expect(follower.sessions.get(session.id)).toBeUndefined();
    } finally {
      await session?.close();
    }
  });

  it("forwards writes to the leader when it may, relaying its answers and refusals as they came", async () => {
    const raw = new SessionsClient(forwarder.server.address, credentials.createInsecure());
    try {
      const created = await call<CreateSessionResponse>((cb) =>
        raw.createSession(
          {
            clientId: "fw",
            requestId: 1n,
            envId: "tictactoe-v1",
            buildId: "",
            seed: 4n,
            hint: Buffer.alloc(0),
          },
          cb,
        ),
      );
      const sessionId = created.session?.sessionId ?? "";
      expect(leader.sessions.get(sessionId)?.seed).toBe(4n);
      const step = { clientId: "fw", sessionId, expectedStep: 0n, action: u32(4) };
      await call((cb) => raw.stepSession({ ...step, requestId: 2n }, cb));
      const stale = await call((cb) => raw.stepSession({ ...step, requestId: 3n }, cb)).catch(
        (e: ServiceError) => e,
      );
      expect((stale as ServiceError).code).toBe(status.FAILED_PRECONDITION);
      expect((stale as ServiceError).metadata.get("cartridge-error-code")).toEqual(["StaleStep"]);
      expect((stale as ServiceError).metadata.get("cartridge-current-step")).toEqual(["1"]);
    } finally {
      raw.close();
    }
  });
});
