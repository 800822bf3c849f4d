import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DecodedChunk } from "../../host/client/index.js";
import { counterVariant, withManifest, withStepBody } from "../fixtures/counter-variants.js";
import { type Harness, rejection, startHarness } from "./harness.js";

const TTT = "tictactoe-v1";

function u32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
}

async function collect(chunks: AsyncIterable<DecodedChunk>): Promise<DecodedChunk[]> {
  const all: DecodedChunk[] = [];
  for await (const chunk of chunks) all.push(chunk);
  return all;
}

/** Concatenates one byte column of several chunks. */
function column(chunks: DecodedChunk[], pick: (c: DecodedChunk) => ArrayBufferView): Uint8Array {
  const parts = chunks.map((c) => {
    const v = pick(c);
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  });
  return Buffer.concat(parts);
}

describe("Engine service over the wire (real cartridges)", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness(undefined, { limits: { maxVectorEnvs: 256 } });
    // Cartridges with bugs, to see how the server reports them.
    const trap = await counterVariant(() =>
      withStepBody("(unreachable)")(withManifest({ env_id: "trap-v1" })),
    );
    const spin = await counterVariant(() =>
      withStepBody("(loop $spin (br $spin))")(withManifest({ env_id: "spin-v1" })),
    );
    await h.registry.register(trap, "memory:trap");
    await h.registry.register(spin, "memory:spin");
  });

  afterAll(async () => {
    await h.close();
  });

  it("lists every env with its capabilities", async () => {
    const envs = await h.client.listEnvs();
    const ids = envs.map((c) => c.id?.envId);
    expect(ids).toEqual([...ids].sort());
    expect(ids).toEqual(expect.arrayContaining(["connect4-v1", "pendulum-v1", TTT]));
    const ttt = envs.find((c) => c.id?.envId === TTT);
    expect(ttt?.actionSpace).toEqual({ $case: "discreteN", value: 9 });
    expect(ttt?.stateBytes).toBe(11);
    expect(ttt?.obsBytes).toBe(108);
    expect(ttt?.obsSpec?.shape).toEqual([27]);
    expect(ttt?.players).toBe(2);
    expect(ttt?.maxHorizon).toBe(9);
    expect(ttt?.legalMaskBytes).toBe(9);
    expect(ttt?.enc?.obs).toBe("f32x27:v1");
    expect(ttt?.id?.buildId).toMatch(/^[0-9a-f]{64}$/);
  });

  it("describes one env, also by pinned build, and reports unknown ones as NOT_FOUND", async () => {
    const caps = await h.client.capabilities(TTT);
    const pinned = await h.client.capabilities(TTT, caps.id?.buildId ?? "");
    expect(pinned.id).toEqual(caps.id);
    const pendulum = await h.client.capabilities("pendulum-v1");
    expect(pendulum.actionSpace?.$case).toBe("continuous");
    const unknownEnv = await rejection(h.client.capabilities("nope-v1"));
    expect(unknownEnv.code).toBe(status.NOT_FOUND);
    expect(unknownEnv.errorCode).toBe("UnknownEnv");
    const unknownBuild = await rejection(h.client.capabilities(TTT, "f".repeat(64)));
    expect(unknownBuild.code).toBe(status.NOT_FOUND);
    expect(unknownBuild.errorCode).toBe("UnknownBuild");
  });

  it("plays a whole episode through the Gymnasium-like Env", async () => {
    const env = await h.client.make(TTT);
    let { obs, info } = await env.reset({ seed: 3 });
    expect(obs).toBeInstanceOf(Float32Array);
    expect(obs.length).toBe(27);
    let steps = 0;
    let last = { terminated: false, truncated: false, reward: 0 };
    while (!last.terminated && !last.truncated) {
      const result = await env.step(info.legalMask.indexOf(1));
      ({ obs, info } = result);
      last = result;
      steps += 1;
    }
    expect(steps).toBeGreaterThanOrEqual(5);
    expect(steps).toBeLessThanOrEqual(9);
    expect(info.currentPlayer).toBe(-1);
    expect(Array.from(info.legalMask)).toEqual(new Array(9).fill(0));
    const over = await rejection(env.step(0));
    expect(over.code).toBe(status.FAILED_PRECONDITION);
    expect(over.errorCode).toBe("EpisodeOver");
  });

  it("steps a box-action env with an array action", async () => {
    const env = await h.client.make("pendulum-v1");
    await env.reset({ seed: 1 });
    const result = await env.step([0.5]);
    expect(Number.isFinite(result.reward)).toBe(true);
    expect(result.obs.length).toBeGreaterThan(0);
  });

  it("is deterministic over the wire and matches the in-process engine byte for byte", async () => {
    const a = await h.client.reset(TTT, 42n);
    const b = await h.client.reset(TTT, 42n);
    expect(Buffer.compare(a.state, b.state)).toBe(0);
    expect(Buffer.compare(a.obs, b.obs)).toBe(0);
    const local = h.engine.reset({ envId: TTT }, 42n);
    expect(Buffer.from(local.state).equals(a.state)).toBe(true);
    let state: Uint8Array = a.state;
    let localState = local.state;
    for (const cell of [4, 0, 8, 2]) {
      const wire = await h.client.step(TTT, state, u32(cell));
      const mine = h.engine.step({ envId: TTT }, localState, u32(cell));
      expect(Buffer.from(mine.state).equals(wire.state)).toBe(true);
      expect(Buffer.from(mine.obs).equals(wire.obs)).toBe(true);
      expect(wire.reward).toBe(mine.reward);
      state = wire.state;
      localState = mine.state;
    }
  });

  it("answers bad input with INVALID_ARGUMENT and the typed code", async () => {
    const { state } = await h.client.reset(TTT, 1n);
    const cases: [() => Promise<unknown>, string][] = [
      [() => h.client.step(TTT, state.subarray(1), u32(0)), "BadState"],
      [() => h.client.step(TTT, new Uint8Array(11).fill(0xff), u32(0)), "BadState"],
      [() => h.client.step(TTT, state, new Uint8Array(3)), "BadAction"],
      [() => h.client.step(TTT, state, u32(9)), "BadAction"],
      [() => h.client.step("", state, u32(0)), "BadArgument"],
      [() => h.client.reset(TTT, 1n, { hint: new Uint8Array(1) }), "BadHint"],
    ];
    const after = await h.client.step(TTT, state, u32(4));
    cases.push([() => h.client.step(TTT, after.state, u32(4)), "IllegalAction"]);
    for (const [call, errorCode] of cases) {
      const error = await rejection(call());
      expect({ errorCode: error.errorCode, code: error.code }).toEqual({
        errorCode,
        code: status.INVALID_ARGUMENT,
      });
      expect(error.message.length).toBeGreaterThan(10);
    }
  });

  it("reports a cartridge over its fuel budget as RESOURCE_EXHAUSTED", async () => {
    const { state } = await h.client.reset("spin-v1", 0n);
    const error = await rejection(h.client.step("spin-v1", state, u32(0)));
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error.errorCode).toBe("BudgetExceeded");
  });

  it("reports a trapping cartridge as INTERNAL, names it, and keeps serving", async () => {
    const { state } = await h.client.reset("trap-v1", 0n);
    const error = await rejection(h.client.step("trap-v1", state, u32(0)));
    expect(error.code).toBe(status.INTERNAL);
    expect(error.errorCode).toBe("Trap");
    expect(error.message).toContain("trap-v1");
    const again = await h.client.reset("trap-v1", 0n);
    expect(again.state.length).toBe(8);
  });

  it("vector-steps N pairs exactly like N single steps, failed envs flagged", async () => {
    const n = 40;
    const states: Uint8Array[] = [];
    const actions: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      const t = h.engine.reset({ envId: TTT }, BigInt(i));
      states.push(t.state);
      // Env 7 gets an out-of-range action; the others a legal move.
      actions.push(u32(i === 7 ? 99 : Math.max(0, t.legalMask.indexOf(1, i % 9))));
    }
    const chunks = await collect(
      h.client.batchSimulate({
        envId: TTT,
        vector: { states: Buffer.concat(states), actions: Buffer.concat(actions) },
        chunkRows: 16,
      }),
    );
    expect(chunks.map((c) => c.rows)).toEqual([16, 16, 8]);
    const outStates = column(chunks, (c) => c.states);
    const rewards = chunks.flatMap((c) => Array.from(c.rewards));
    const statuses = chunks.flatMap((c) => Array.from(c.statuses));
    const index = chunks.flatMap((c) => Array.from(c.index));
    expect(index).toEqual([...Array(n).keys()]);
    for (let i = 0; i < n; i++) {
      const row = outStates.subarray(11 * i, 11 * i + 11);
      if (i === 7) {
        expect(statuses[i]).toBe(3);
        expect(Buffer.from(row).equals(Buffer.from(states[i]!))).toBe(true);
        continue;
      }
      const single = h.engine.step({ envId: TTT }, states[i]!, actions[i]!);
      expect(statuses[i]).toBe(0);
      expect(Buffer.from(row).equals(Buffer.from(single.state))).toBe(true);
      expect(rewards[i]).toBe(single.reward);
    }
  });

  it("rolls out seeded episodes deterministically; episode i uses seed + i", async () => {
    const run = (seed: number, episodes: number) =>
      collect(
        h.client.batchSimulate({
          envId: TTT,
          rollouts: { seed, episodes, includeObs: true, includeStates: true },
          chunkRows: 50,
        }),
      );
    const first = await run(10, 30);
    const second = await run(10, 30);
    for (const pick of [
      (c: DecodedChunk) => c.actions,
      (c: DecodedChunk) => c.states,
      (c: DecodedChunk) => c.obs,
      (c: DecodedChunk) => c.rewards,
      (c: DecodedChunk) => c.index,
      (c: DecodedChunk) => c.step,
    ]) {
      expect(Buffer.from(column(first, pick)).equals(Buffer.from(column(second, pick)))).toBe(true);
    }
    const rows = first.reduce((sum, c) => sum + c.rows, 0);
    expect(column(first, (c) => c.states).length).toBe(rows * 11);
    expect(column(first, (c) => c.obs).length).toBe(rows * 108);
    // Every episode ends terminated (tic-tac-toe never truncates before 9 moves).
    const episodeEnds = first.flatMap((c) =>
      Array.from(c.index).filter((_, r) => c.terminated[r] === 1 || c.truncated[r] === 1),
    );
    expect(episodeEnds).toEqual([...Array(30).keys()]);
    // Episode 1 of seed 10 is episode 0 of seed 11.
    const shifted = await run(11, 1);
    const episodeOne = first.flatMap((c) =>
      Array.from(c.index).flatMap((e, r) =>
        e === 1 ? [c.actions.subarray(4 * r, 4 * r + 4)] : [],
      ),
    );
    expect(Buffer.concat(episodeOne).equals(Buffer.from(column(shifted, (c) => c.actions)))).toBe(
      true,
    );
  });

  it("validates BatchSimulate requests", async () => {
    const drain = async (options: Parameters<Harness["client"]["batchSimulate"]>[0]) => {
      for await (const _ of h.client.batchSimulate(options)) {
        // Drained.
      }
    };
    const noMode = await rejection(drain({ envId: TTT }));
    expect(noMode.code).toBe(status.INVALID_ARGUMENT);
    const bigCap = await rejection(
      drain({ envId: TTT, rollouts: { seed: 0, episodes: 1, stepCap: 10_000_000 } }),
    );
    expect(bigCap.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(bigCap.errorCode).toBe("LimitExceeded");
    const tooMany = await rejection(
      drain({
        envId: TTT,
        vector: { states: new Uint8Array(11 * 300), actions: new Uint8Array(4 * 300) },
      }),
    );
    expect(tooMany.code).toBe(status.RESOURCE_EXHAUSTED);
    const ragged = await rejection(
      drain({ envId: TTT, vector: { states: new Uint8Array(12), actions: new Uint8Array(4) } }),
    );
    expect(ragged.code).toBe(status.INVALID_ARGUMENT);
    expect(ragged.errorCode).toBe("BadState");
    const unknown = await rejection(
      drain({ envId: "nope-v1", rollouts: { seed: 0, episodes: 1 } }),
    );
    expect(unknown.code).toBe(status.NOT_FOUND);
  });

  it("counts steps and errors in the metrics", async () => {
    const steps = await h.metrics.valueOf("cartridge_steps_total", { env: TTT });
    expect(steps).toBeGreaterThan(0);
    const notFound = await h.metrics.valueOf("cartridge_rpc_errors_total", {
      code: "NOT_FOUND",
      env: "unknown",
    });
    expect(notFound).toBeGreaterThan(0);
    const text = await h.metrics.registry.metrics();
    expect(text).toContain(
      'cartridge_rpc_duration_seconds_bucket{le="0.001",method="Step",code="OK"}',
    );
  });
});
