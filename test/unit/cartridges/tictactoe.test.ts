import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { CallError, type CartridgeEngine, Status } from "../../../host/runtime/index.js";
import {
  decodeState,
  encodeState,
  INITIAL,
  legalMask,
  observation,
  reachablePositions,
  step as referenceStep,
  STATE_BYTES,
} from "../../support/tictactoe-reference.js";
import { engineWith, floats, u32Action } from "./bundled.js";

const env = { envId: "tictactoe-v1" };
/** Every action tried in every position: the nine cells and two out-of-range values. */
const ACTIONS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xffffffff];

let engine: CartridgeEngine;

/** One env's result out of a batch step. */
interface BatchResult {
  readonly status: number;
  readonly state: Uint8Array;
  readonly obs: Float32Array;
  readonly reward: number;
  readonly playerRewards: number[];
  readonly terminated: boolean;
  readonly truncated: boolean;
  readonly currentPlayer: number;
}
const reachable = reachablePositions();
const reachableStates = [...reachable.values()].map(encodeState);

beforeAll(async () => {
  engine = await engineWith("tictactoe", env.envId);
});

/** Compares one batch result with the reference; returns a description of the first difference. */
function compare(
  got: BatchResult,
  expected: ReturnType<typeof referenceStep>,
  input: Uint8Array,
): string | undefined {
  if (got.status !== expected.status) return `status ${got.status}, expected ${expected.status}`;
  const next = expected.next;
  if (next === undefined) {
    return sameValues(got.state, input) ? undefined : "failed env's state is not its input";
  }
  if (!sameValues(got.state, next.state)) return `state ${got.state.join("")}`;
  if (!sameValues(got.obs, next.obs)) return "observation differs";
  if (got.reward !== next.reward) return `reward ${got.reward}`;
  if (!sameValues(got.playerRewards, next.playerRewards)) return "player rewards differ";
  if (got.terminated !== next.terminated || got.truncated) return "flags differ";
  if (got.currentPlayer !== next.currentPlayer) return `current player ${got.currentPlayer}`;
  return undefined;
}

function sameValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Runs `count` (state, action) pairs through batchStep in chunks of the largest batch. */
function batchAll(states: Uint8Array[], actions: number[]) {
  const maxBatch = engine.capabilities(env).maxBatch;
  const results: {
    status: number;
    state: Uint8Array;
    obs: Float32Array;
    reward: number;
    playerRewards: number[];
    terminated: boolean;
    truncated: boolean;
    currentPlayer: number;
  }[] = [];
  for (let start = 0; start < states.length; start += maxBatch) {
    const end = Math.min(states.length, start + maxBatch);
    const count = end - start;
    const stateBytes = new Uint8Array(count * STATE_BYTES);
    const actionBytes = new Uint8Array(count * 4);
    const view = new DataView(actionBytes.buffer);
    for (let i = 0; i < count; i++) {
      stateBytes.set(states[start + i]!, i * STATE_BYTES);
      view.setUint32(i * 4, actions[start + i]!, true);
    }
    const batch = engine.batchStep(env, stateBytes, actionBytes);
    for (let i = 0; i < count; i++) {
      results.push({
        status: batch.statuses[i]!,
        state: batch.states.slice(i * STATE_BYTES, (i + 1) * STATE_BYTES),
        obs: floats(batch.obs.slice(i * 108, (i + 1) * 108)),
        reward: batch.rewards[i]!,
        playerRewards: [batch.playerRewards[2 * i]!, batch.playerRewards[2 * i + 1]!],
        terminated: batch.terminated[i] === 1,
        truncated: batch.truncated[i] === 1,
        currentPlayer: batch.currentPlayers[i]!,
      });
    }
  }
  return results;
}

describe("tictactoe-v1 against the TypeScript reference", () => {
  it("has 5478 reachable positions", () => {
    expect(reachable.size).toBe(5478);
  });

  it("resets to the empty board with X to move", () => {
    const t = engine.reset(env, 123n);
    expect(t.state).toEqual(encodeState(INITIAL));
    expect(floats(t.obs)).toEqual(observation(INITIAL));
    expect(t.reward).toBe(0);
    expect(t.currentPlayer).toBe(0);
    expect(t.terminated || t.truncated).toBe(false);
    expect(t.legalMask).toEqual(legalMask(INITIAL));
  });

  it("agrees on every action in every reachable position (batch step)", () => {
    const states: Uint8Array[] = [];
    const actions: number[] = [];
    for (const state of reachableStates) {
      for (const action of ACTIONS) {
        states.push(state);
        actions.push(action);
      }
    }
    const results = batchAll(states, actions);
    let ok = 0;
    const mismatches: string[] = [];
    results.forEach((got, i) => {
      const expected = referenceStep(states[i]!, actions[i]!);
      const problem = compare(got, expected, states[i]!);
      if (problem !== undefined)
        mismatches.push(`${states[i]!.join("")} action ${actions[i]}: ${problem}`);
      if (expected.next !== undefined) ok++;
    });
    // Collected rather than asserted one by one: 60,000 expect() calls would dominate the runtime.
    expect(mismatches.slice(0, 5)).toEqual([]);
    // Every empty cell of every unfinished position is a legal move: 16167 of them.
    expect(ok).toBe(16167);
  });

  it("agrees on every legal move through the single-step call, legal mask included", () => {
    const mismatches: string[] = [];
    for (const state of reachableStates) {
      for (let action = 0; action < 9; action++) {
        const expected = referenceStep(state, action);
        if (expected.next === undefined) continue;
        const t = engine.step(env, state, u32Action(action));
        const got: BatchResult = {
          status: Status.Ok,
          state: t.state,
          obs: floats(t.obs),
          reward: t.reward,
          playerRewards: Array.from(t.playerRewards),
          terminated: t.terminated,
          truncated: t.truncated,
          currentPlayer: t.currentPlayer,
        };
        const problem =
          compare(got, expected, state) ??
          (sameValues(t.legalMask, legalMask(decodeState(expected.next.state)!))
            ? undefined
            : "legal mask differs");
        if (problem !== undefined)
          mismatches.push(`${state.join("")} action ${action}: ${problem}`);
      }
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
  });

  it("reports each kind of refusal as its typed error", () => {
    const board = encodeState({ cells: [1, 0, 0, 0, 0, 0, 0, 0, 0], player: 1, winner: 0 });
    const won = encodeState({ cells: [1, 1, 1, 2, 2, 0, 0, 0, 0], player: 1, winner: 1 });
    const expectCode = (call: () => unknown, code: string) => {
      try {
        call();
        expect.unreachable("the call should fail");
      } catch (error) {
        expect(error).toBeInstanceOf(CallError);
        expect((error as CallError).code).toBe(code);
      }
    };
    expectCode(() => engine.step(env, board, u32Action(0)), "IllegalAction");
    expectCode(() => engine.step(env, board, u32Action(9)), "BadAction");
    expectCode(() => engine.step(env, won, u32Action(5)), "EpisodeOver");
    const bad = board.slice();
    bad[4] = 7;
    expectCode(() => engine.step(env, bad, u32Action(1)), "BadState");
  });

  it("accepts exactly the reachable positions among all boards, players and winners", () => {
    const states: Uint8Array[] = [];
    for (let code = 0; code < 3 ** 9; code++) {
      const cells: number[] = [];
      for (let i = 0, rest = code; i < 9; i++, rest = Math.floor(rest / 3)) cells.push(rest % 3);
      for (let player = 0; player <= 2; player++) {
        for (let winner = 0; winner <= 4; winner++) {
          states.push(Uint8Array.from([...cells, player, winner]));
        }
      }
    }
    const results = batchAll(states, new Array<number>(states.length).fill(0));
    let accepted = 0;
    const wrong: string[] = [];
    results.forEach((got, i) => {
      const isReachable = reachable.has(states[i]!.join(","));
      if ((got.status === Status.MalformedState) === isReachable) wrong.push(states[i]!.join(""));
      if (isReachable) accepted++;
    });
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(accepted).toBe(5478);
  });

  it("rejects random state bytes exactly when the reference does", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: STATE_BYTES, maxLength: STATE_BYTES, max: 4 }),
        fc.nat(12),
        (state, action) => {
          const [got] = batchAll([state], [action]);
          expect(got!.status).toBe(referenceStep(state, action).status);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("plays rollouts that replay exactly through the reference", () => {
    const rows = [
      ...engine.rollout({ ...env, seed: 9n, episodes: 200, stepCap: 9, includeObs: true }),
    ];
    let position = INITIAL;
    let episodes = 0;
    for (const chunk of rows) {
      for (let r = 0; r < chunk.rows; r++) {
        if (chunk.steps[r] === 0) {
          position = INITIAL;
          episodes++;
        }
        const action = new DataView(chunk.actions.buffer, chunk.actions.byteOffset).getUint32(
          4 * r,
          true,
        );
        const expected = referenceStep(encodeState(position), action);
        expect(expected.status).toBe(Status.Ok);
        expect(chunk.states.slice(r * STATE_BYTES, (r + 1) * STATE_BYTES)).toEqual(
          expected.next!.state,
        );
        expect(floats(chunk.obs.slice(r * 108, (r + 1) * 108))).toEqual(expected.next!.obs);
        expect(chunk.rewards[r]).toBe(expected.next!.reward);
        expect(chunk.flags[r]).toBe(expected.next!.terminated ? 1 : 0);
        position = decodeState(expected.next!.state)!;
      }
    }
    expect(episodes).toBe(200);
  });

  it("gives the same rollout bytes for the same seed and different ones for another seed", () => {
    const run = (seed: bigint) =>
      [...engine.rollout({ ...env, seed, episodes: 20, stepCap: 9, includeObs: false })].map(
        (chunk) => Array.from(chunk.actions),
      );
    expect(run(5n)).toEqual(run(5n));
    expect(run(5n)).not.toEqual(run(6n));
  });
});
