import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { CallError, type CartridgeEngine } from "../../../host/runtime/index.js";
import { Xoshiro128 } from "../sdk/xoshiro-reference.js";
import { engineWith, f32Action, floats } from "./bundled.js";

const env = { envId: "pendulum-v1" };
const STATE_BYTES = 28;
const HORIZON = 200;
/** Float tolerance: the cartridge's sin/cos and V8's may differ in the last bits. */
const TOLERANCE = 1e-5;

/** The decoded state bytes of pendulum-v1 (cartridges/pendulum/README.md). */
interface PendulumState {
  theta: number;
  thetaDot: number;
  steps: number;
  rng: Uint32Array;
}

function decode(bytes: Uint8Array): PendulumState {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    theta: view.getFloat32(0, true),
    thetaDot: view.getFloat32(4, true),
    steps: view.getUint32(8, true),
    rng: Uint32Array.from({ length: 4 }, (_, i) => view.getUint32(12 + 4 * i, true)),
  };
}

function encode(state: PendulumState): Uint8Array {
  const bytes = new Uint8Array(STATE_BYTES);
  const view = new DataView(bytes.buffer);
  view.setFloat32(0, state.theta, true);
  view.setFloat32(4, state.thetaDot, true);
  view.setUint32(8, state.steps, true);
  state.rng.forEach((word, i) => {
    view.setUint32(12 + 4 * i, word, true);
  });
  return bytes;
}

/** The reset of the README: theta in [-pi, pi], theta_dot in [-1, 1), in f32 arithmetic. */
function referenceReset(seed: bigint): PendulumState {
  const rng = Xoshiro128.seeded(seed, 0);
  const f = Math.fround;
  const lo = f(-Math.PI);
  const hi = f(Math.PI);
  const theta = f(lo + f(rng.nextFloat() * f(hi - lo)));
  const thetaDot = f(-1 + f(rng.nextFloat() * 2));
  return { theta, thetaDot, steps: 0, rng: rng.s.slice() };
}

/** Gymnasium's Pendulum-v1 step plus the README's disturbance, in f64 like the cartridge. */
function referenceStep(state: PendulumState, torque: number) {
  const rng = new Xoshiro128(state.rng);
  const disturbance = (rng.nextFloat() * 2 - 1) * 0.05;
  let normalized = (state.theta + Math.PI) % (2 * Math.PI);
  if (normalized < 0) normalized += 2 * Math.PI;
  normalized -= Math.PI;
  const cost = normalized * normalized + 0.1 * state.thetaDot ** 2 + 0.001 * torque * torque;
  const acceleration = 15 * Math.sin(state.theta) + 3 * (torque + disturbance);
  const thetaDot = Math.max(-8, Math.min(8, state.thetaDot + acceleration * 0.05));
  const next: PendulumState = {
    theta: Math.fround(state.theta + thetaDot * 0.05),
    thetaDot: Math.fround(thetaDot),
    steps: state.steps + 1,
    rng: rng.s.slice(),
  };
  return { next, reward: Math.fround(-cost), truncated: next.steps >= HORIZON };
}

let engine: CartridgeEngine;

beforeAll(async () => {
  engine = await engineWith("pendulum", env.envId);
});

function errorCode(call: () => unknown): string | undefined {
  try {
    call();
    return undefined;
  } catch (error) {
    return error instanceof CallError ? error.code : `untyped ${String(error)}`;
  }
}

const validState = fc.record({
  theta: fc.float({ min: -20, max: 20, noNaN: true }),
  thetaDot: fc.float({ min: -8, max: 8, noNaN: true }),
  steps: fc.integer({ min: 0, max: HORIZON - 1 }),
  rng: fc
    .array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 4, maxLength: 4 })
    .filter((words) => words.some((w) => w !== 0))
    .map((words) => Uint32Array.from(words)),
});

describe("pendulum-v1", () => {
  it("resets to the reference's seeded angle, velocity and generator", () => {
    for (const seed of [0n, 1n, 42n, 2n ** 63n, 2n ** 64n - 1n]) {
      const t = engine.reset(env, seed);
      const expected = referenceReset(seed);
      expect(t.state).toEqual(encode(expected));
      expect(Math.abs(expected.theta)).toBeLessThanOrEqual(Math.fround(Math.PI));
      expect(Math.abs(expected.thetaDot)).toBeLessThanOrEqual(1);
      const obs = floats(t.obs);
      expect(obs[0]).toBeCloseTo(Math.cos(expected.theta), 5);
      expect(obs[1]).toBeCloseTo(Math.sin(expected.theta), 5);
      expect(obs[2]).toBe(expected.thetaDot);
      expect(t.reward).toBe(0);
      expect(t.currentPlayer).toBe(0);
      expect(t.legalMask.byteLength).toBe(0);
    }
  });

  it("steps like the reference physics, with the generator advanced inside the state", () => {
    fc.assert(
      fc.property(validState, fc.float({ min: -2, max: 2, noNaN: true }), (state, torque) => {
        const t = engine.step(env, encode(state), f32Action(torque));
        const expected = referenceStep(state, Math.fround(torque));
        const got = decode(t.state);
        expect(Math.abs(got.theta - expected.next.theta)).toBeLessThan(TOLERANCE);
        expect(Math.abs(got.thetaDot - expected.next.thetaDot)).toBeLessThan(TOLERANCE);
        expect(got.steps).toBe(expected.next.steps);
        expect(got.rng).toEqual(expected.next.rng);
        expect(Math.abs(t.reward - expected.reward)).toBeLessThan(TOLERANCE * 10);
        expect(t.playerRewards[0]).toBe(t.reward);
        expect(t.truncated).toBe(expected.truncated);
        expect(t.terminated).toBe(false);
        const obs = floats(t.obs);
        expect(Math.abs(obs[0]! - Math.cos(got.theta))).toBeLessThan(TOLERANCE);
        expect(Math.abs(obs[1]! - Math.sin(got.theta))).toBeLessThan(TOLERANCE);
        expect(obs[2]).toBe(got.thetaDot);
      }),
      { numRuns: 300 },
    );
  });

  it("is a pure function of the state bytes, and the disturbance depends on the saved generator", () => {
    const start = referenceReset(11n);
    const a = engine.step(env, encode(start), f32Action(0.5));
    const b = engine.step(env, encode(start), f32Action(0.5));
    expect(a.state).toEqual(b.state);
    const otherRng = { ...start, rng: Uint32Array.from([1, 2, 3, 4]) };
    const c = engine.step(env, encode(otherRng), f32Action(0.5));
    expect(decode(c.state).thetaDot).not.toBe(decode(a.state).thetaDot);
  });

  it("truncates every episode at 200 steps and refuses to step past it", () => {
    const rows: number[] = [];
    let lastState = new Uint8Array();
    for (const chunk of engine.rollout({
      ...env,
      seed: 8n,
      episodes: 3,
      stepCap: 1000,
      includeObs: false,
    })) {
      for (let r = 0; r < chunk.rows; r++) {
        rows.push(chunk.flags[r]!);
        const torque = new DataView(chunk.actions.buffer, chunk.actions.byteOffset).getFloat32(
          4 * r,
          true,
        );
        expect(Math.abs(torque)).toBeLessThanOrEqual(2);
      }
      lastState = chunk.states.slice((chunk.rows - 1) * STATE_BYTES, chunk.rows * STATE_BYTES);
    }
    expect(rows).toHaveLength(3 * HORIZON);
    rows.forEach((flags, i) => {
      expect(flags).toBe(i % HORIZON === HORIZON - 1 ? 2 : 0);
    });
    expect(decode(lastState).steps).toBe(HORIZON);
    expect(errorCode(() => engine.step(env, lastState, f32Action(0)))).toBe("EpisodeOver");
  });

  it("accepts torques on the box edges and refuses NaN, infinities and values outside it", () => {
    const state = encode(referenceReset(3n));
    expect(errorCode(() => engine.step(env, state, f32Action(2)))).toBeUndefined();
    expect(errorCode(() => engine.step(env, state, f32Action(-2)))).toBeUndefined();
    for (const torque of [Number.NaN, Number.POSITIVE_INFINITY, -Infinity, 2.0001, -2.5, 1e30]) {
      expect(errorCode(() => engine.step(env, state, f32Action(torque)))).toBe("BadAction");
    }
  });

  it("rejects NaN or out-of-range state fields and an all-zero generator", () => {
    const base = referenceReset(4n);
    const bad: PendulumState[] = [
      { ...base, theta: Number.NaN },
      { ...base, theta: 1e5 },
      { ...base, thetaDot: 8.5 },
      { ...base, thetaDot: Number.NaN },
      { ...base, steps: HORIZON + 1 },
      { ...base, rng: new Uint32Array(4) },
    ];
    for (const state of bad) {
      expect(errorCode(() => engine.step(env, encode(state), f32Action(0)))).toBe("BadState");
    }
  });

  it("never traps on random action bit patterns", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 30 }), (words) => {
        let state = engine.reset(env, 6n).state;
        for (const word of words) {
          const action = new Uint8Array(Uint32Array.of(word).buffer);
          const value = new Float32Array(action.buffer)[0]!;
          let next: Uint8Array | undefined;
          const code = errorCode(() => {
            next = engine.step(env, state, action).state;
          });
          expect(code).toBe(value >= -2 && value <= 2 ? undefined : "BadAction");
          if (next !== undefined) state = next;
        }
      }),
      { numRuns: 100 },
    );
  });
});
