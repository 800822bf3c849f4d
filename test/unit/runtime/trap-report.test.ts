import { afterEach, describe, expect, it } from "vitest";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import { CallError } from "../../../host/runtime/errors.js";
import { Registry } from "../../../host/runtime/registry.js";
import { bytesForReplay, trapMessage } from "../../../host/runtime/trap-report.js";
import { WorkerEngine } from "../../../host/runtime/worker-engine.js";
import { actionIs, counterVariant, withStepBody } from "../../fixtures/counter-variants.js";
import { counterState, u32s } from "./engine-helpers.js";

/**
 * A trap says where (wasm function, offset, name), in which env, build, seed, episode or row, and
 * how to reproduce it; the report crosses the worker boundary intact.
 */

const open: WorkerEngine[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((engine) => engine.close()));
});

const counter = { envId: "counter-v1" };

/** The counter, trapping (`unreachable`) on action 1. */
async function trapping() {
  const registry = new Registry();
  const caps = await registry.register(
    await counterVariant(withStepBody(`(if ${actionIs(1)} (then unreachable))`)),
    "trap.wasm",
  );
  return { registry, buildId: caps.buildId, engine: new CartridgeEngine(registry) };
}

function caught(call: () => unknown): CallError {
  try {
    call();
  } catch (error) {
    if (error instanceof CallError) return error;
    throw error;
  }
  throw new Error("no error");
}

describe("trap reports", () => {
  it("a step: function, offset and name, env, build and the Step that replays it", async () => {
    const { engine, buildId } = await trapping();
    const error = caught(() => engine.step(counter, counterState(2, 0), u32s(1)));
    expect(error.code).toBe("Trap");
    const trap = error.trap;
    expect(trap?.envId).toBe("counter-v1");
    expect(trap?.buildId).toBe(buildId);
    expect(trap?.export).toBe("cartridge_step");
    expect(trap?.reason).toContain("unreachable");
    expect(trap?.frames[0]?.name).toBe("step");
    expect(trap?.frames[0]?.functionIndex).toBeGreaterThanOrEqual(0);
    expect(trap?.frames[0]?.offset).toBeGreaterThan(0);
    expect(trap?.replay).toBe(
      `Step env_id="counter-v1" build_id=${buildId} state=0200000000000000 action=01000000`,
    );
    expect(error.message).toContain("in step (function");
    expect(error.message).toContain("replay: Step");
  });

  it("a rollout: the seed and episode, and a one-episode request that replays it", async () => {
    const { engine } = await trapping();
    const request = {
      envId: "counter-v1",
      seed: 40n,
      episodes: 3,
      stepCap: 6,
      includeObs: false,
      chunkSteps: 100,
    };
    const error = caught(() => [...engine.rollout(request)]);
    expect(error.trap?.seed).toBe("40");
    expect(error.trap?.episode).toBe(0);
    expect(error.trap?.replay).toContain("rollouts seed=40 episodes=1 step_cap=6");
  });

  it("a batch: the row that traps, found among the rows of the call, with its Step", async () => {
    const { engine } = await trapping();
    const states = new Uint8Array([
      ...counterState(1, 0),
      ...counterState(2, 0),
      ...counterState(3, 0),
    ]);
    const actions = new Uint8Array([...u32s(0), ...u32s(0), ...u32s(1)]);
    const error = caught(() => engine.batchStep(counter, states, actions));
    expect(error.trap?.row).toBe(2);
    expect(error.trap?.replay).toContain("state=0300000000000000 action=01000000");
    expect(error.message).toContain("row 2");
  });

  it("keeps the report across the worker boundary", async () => {
    const { registry } = await trapping();
    const engine = new WorkerEngine(registry, { workers: 1, inlineSliceFuel: 0 });
    open.push(engine);
    const error = await engine.step(counter, counterState(2, 0), u32s(1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CallError);
    expect((error as CallError).trap?.frames[0]?.name).toBe("step");
    expect((error as CallError).trap?.replay).toContain("action=01000000");
  });

  it("a rollout: the step of the episode that trapped, in-process and across the worker hop", async () => {
    // Traps on the episode's third step (index 2), whatever the actions.
    const registry = new Registry();
    await registry.register(
      await counterVariant(
        withStepBody(
          "(if (i32.eq (i32.load offset=4 (local.get $s_in)) (i32.const 2)) (then unreachable))",
        ),
      ),
      "third.wasm",
    );
    const request = { envId: "counter-v1", seed: 40n, episodes: 2, stepCap: 6, includeObs: false };
    const inline = caught(() => [...new CartridgeEngine(registry).rollout(request)]);
    expect(inline.trap?.step).toBe(2);
    expect(inline.trap?.call).toEqual({ op: "rollout", seed: "40", stepCap: 6 });
    expect(inline.message).toContain("episode 0, step 2");
    const engine = new WorkerEngine(registry, { workers: 1, inlineSliceFuel: 0 });
    open.push(engine);
    const error = await (async () => {
      for await (const _ of engine.rollout(request)) {
        // no chunk arrives: the first episode traps
      }
    })().catch((e: unknown) => e);
    expect((error as CallError).trap?.step).toBe(2);
    expect((error as CallError).trap?.episode).toBe(0);
  });

  it("a chunked batch across the worker hop: the row of the request, not of the chunk", async () => {
    const { registry } = await trapping();
    const engine = new WorkerEngine(registry, { workers: 1, inlineSliceFuel: 0 });
    open.push(engine);
    const rows = [0, 0, 0, 0, 1];
    const states = new Uint8Array(rows.flatMap((_, i) => [...counterState(i, 0)]));
    const actions = new Uint8Array(rows.flatMap((a) => [...u32s(a)]));
    const error = await (async () => {
      for await (const _ of engine.batchStepChunks(counter, states, actions, 2)) {
        // the third chunk (row 4) traps
      }
    })().catch((e: unknown) => e);
    expect((error as CallError).trap?.row).toBe(4);
    expect((error as CallError).trap?.call).toEqual({
      op: "step",
      state: "0400000000000000",
      action: "01000000",
    });
  });

  it("bounds what it echoes: long inputs by their size, the whole message in bytes", () => {
    expect(bytesForReplay(new Uint8Array(65))).toBe("<65 bytes>");
    expect(bytesForReplay(new Uint8Array([1, 255]))).toBe("01ff");
    const message = trapMessage({
      envId: "e".repeat(100_000),
      buildId: "b".repeat(64),
      export: "cartridge_step",
      reason: "unreachable",
      frames: [{ functionIndex: 1, offset: 2, name: "f" }],
      replay: "r".repeat(100_000),
    });
    expect(Buffer.byteLength(message)).toBeLessThanOrEqual(2048);
  });
});
