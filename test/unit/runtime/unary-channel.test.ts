import { describe, expect, it } from "vitest";
import type { Transition } from "../../../host/runtime/engine.js";
import {
  UNARY_CHANNEL_BYTES,
  UnaryChannel,
  UnaryChannelEnd,
} from "../../../host/runtime/unary-channel.js";
import { Watchdog } from "../../../host/runtime/watchdog.js";

/**
 * The unary channel carries a Step or a Reset and its transition through shared memory, both halves here on
 * one thread; what does not fit is refused, so the caller posts it instead.
 */

const build = { envId: "counter-v1", buildId: "b1" };
const step = {
  op: "step",
  selector: build,
  state: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]),
  action: new Uint8Array([9, 0, 0, 0]),
} as const;

function transition(stateBytes: number): Transition {
  return {
    build,
    state: new Uint8Array(stateBytes).fill(7),
    obs: new Uint8Array([0, 1, 0, 1, 1]),
    reward: -0.25,
    terminated: true,
    truncated: false,
    currentPlayer: -1,
    playerRewards: new Float32Array([-0.25, 0.25]),
    legalMask: new Uint8Array([1, 0, 1]),
  };
}

const always = () => true;

describe("unary channel", () => {
  it("carries a Step to the worker's end and its transition back, byte for byte", async () => {
    const main = new UnaryChannel();
    const end = new UnaryChannelEnd(main.buffer);
    expect(end.take()).toBeUndefined();
    const ticket = main.send(7, step);
    expect(ticket).toBeDefined();
    expect(end.take()).toEqual({ id: 7, ticket, call: step });
    // Taken once: the request is gone from the buffer.
    expect(end.take()).toBeUndefined();
    const sent = transition(16);
    expect(end.answerInBuffer(ticket ?? 0, sent)).toBe(true);
    const back = await main.answer(ticket ?? 0, build, always);
    expect(back).toEqual(sent);
    // Copies of their own: nothing the caller keeps changes when the buffer is reused.
    expect(back?.state.buffer).toBeInstanceOf(ArrayBuffer);
  });

  it("carries a Reset with and without a hint", () => {
    const main = new UnaryChannel();
    const end = new UnaryChannelEnd(main.buffer);
    const plain = { op: "reset", selector: build, seed: 2n ** 64n - 1n } as const;
    // Call ids past 32 bits cross whole; tickets differ from call to call.
    const first = main.send(2 ** 40, plain);
    expect(end.take()).toEqual({ id: 2 ** 40, ticket: first, call: plain });
    const hinted = { ...plain, seed: 0n, hint: new Uint8Array([3, 1]) };
    const second = main.send(2, hinted);
    expect(second).not.toBe(first);
    expect(end.take()).toEqual({ id: 2, ticket: second, call: hinted });
  });

  it("refuses what does not fit, and says when the answer went by message", async () => {
    const main = new UnaryChannel();
    const end = new UnaryChannelEnd(main.buffer);
    const big = { ...step, state: new Uint8Array(UNARY_CHANNEL_BYTES) };
    expect(main.send(1, big)).toBeUndefined();
    expect(end.take()).toBeUndefined();
    // A seed the worker refuses goes by message, to be refused with the usual error there.
    expect(main.send(1, { op: "reset", selector: build, seed: 2n ** 64n })).toBeUndefined();
    expect(main.send(1, { op: "reset", selector: { envId: "counter-v1" }, seed: 1n })).toBe(
      undefined,
    );
    expect(end.take()).toBeUndefined();
    const ticket = main.send(2, step) ?? 0;
    expect(end.take()?.id).toBe(2);
    expect(end.answerInBuffer(ticket, transition(UNARY_CHANNEL_BYTES))).toBe(false);
    end.answerPosted(ticket);
    expect(await main.answer(ticket, build, always)).toBeUndefined();
  });

  it("ends a wait that missed its answer at the next one, once the call is settled", async () => {
    const main = new UnaryChannel();
    const end = new UnaryChannelEnd(main.buffer);
    const first = main.send(1, step) ?? 0;
    end.take();
    let settled = false;
    const waiting = main.answer(first, build, () => !settled);
    // The first call was answered and settled elsewhere, and the next one answered, before
    // the wait looked again.
    settled = true;
    const next = main.send(2, step) ?? 0;
    end.take();
    expect(end.answerInBuffer(next, transition(16))).toBe(true);
    expect(await waiting).toBeUndefined();
  });

  it("releases a wait when the worker is gone", async () => {
    const main = new UnaryChannel();
    const waiting = main.answer(3, build, always);
    main.abandon();
    expect(await waiting).toBeUndefined();
  });
});

describe("watchdog", () => {
  it("fires for the deadline watched, not for one disarmed or moved on", async () => {
    const expired: string[] = [];
    const watchdog = new Watchdog((error) => expired.push(error.message));
    watchdog.arm(performance.now() + 5, () => new Error("first"));
    watchdog.disarm();
    // A later deadline than the timer armed: the timer fires early and sets itself again.
    watchdog.arm(performance.now() + 1, () => new Error("second"));
    watchdog.arm(performance.now() + 40, () => new Error("third"));
    await expect.poll(() => expired, { timeout: 5000 }).toEqual(["third"]);
    // A cancelled call's grace brings the deadline forward; a later one does not push it back.
    watchdog.arm(performance.now() + 60_000, () => new Error("timeout"));
    watchdog.shorten(performance.now() + 1, () => new Error("cancelled"));
    watchdog.shorten(performance.now() + 60_000, () => new Error("later"));
    await expect.poll(() => expired, { timeout: 5000 }).toEqual(["third", "cancelled"]);
    watchdog.stop();
  });
});
