import { describe, expect, it } from "vitest";
import { type Capabilities, DType } from "../proto/generated/engine/v1/engine.js";
import { decodeObs, encodeAction, f32View, i32View, toSeed, u32View } from "./codec.js";
import { EngineCallError, toEngineCallError } from "./errors.js";

function caps(overrides: Partial<Capabilities>): Capabilities {
  return {
    id: { envId: "test-v1", buildId: "" },
    enc: undefined,
    maxHorizon: 10,
    actionSpace: { $case: "discreteN", value: 4 },
    preferredBatch: 1,
    players: 1,
    stateBytes: 4,
    actionBytes: 4,
    obsBytes: 8,
    obsSpec: { dtype: DType.D_TYPE_F32, shape: [2] },
    legalMaskBytes: 4,
    hintMaxBytes: 0,
    maxBatch: 1,
    maxRolloutSteps: 10,
    version: "1",
    description: "",
    ...overrides,
  };
}

describe("client codec", () => {
  it("reads misaligned Buffer columns by copying their own bytes", () => {
    const backing = Buffer.alloc(16);
    backing.writeFloatLE(1.5, 1);
    backing.writeUInt32LE(7, 5);
    backing.writeInt32LE(-3, 9);
    // A Buffer view at an odd offset, as a decoder hands out fields of a received message.
    const column = backing.subarray(1, 13);
    const values = f32View(column.subarray(0, 4));
    expect(values.length).toBe(1);
    expect(values[0]).toBe(1.5);
    expect([...u32View(column.subarray(4, 8))]).toEqual([7]);
    expect([...i32View(column.subarray(8, 12))]).toEqual([-3]);
  });

  it("encodes actions per the action space, little-endian", () => {
    expect([...encodeAction(caps({}), 3)]).toEqual([3, 0, 0, 0]);
    const multi = caps({
      actionSpace: { $case: "multi", value: { nvec: [3, 300] } },
      actionBytes: 8,
    });
    expect([...encodeAction(multi, [2, 257])]).toEqual([2, 0, 0, 0, 1, 1, 0, 0]);
    const box = caps({
      actionSpace: { $case: "continuous", value: { low: [-1], high: [1], shape: [1] } },
    });
    expect(f32View(encodeAction(box, [0.5]))[0]).toBe(0.5);
  });

  it("rejects actions of the wrong shape with a message naming the env", () => {
    expect(() => encodeAction(caps({}), [1])).toThrow(/test-v1 has a discrete action space/);
    const multi = caps({
      actionSpace: { $case: "multi", value: { nvec: [3, 3] } },
      actionBytes: 8,
    });
    expect(() => encodeAction(multi, 1)).toThrow(/needs an array action of 2 values/);
    expect(() => encodeAction(multi, [1, 2, 3])).toThrow(/needs 2 action values; got 3/);
  });

  it("decodes observations per dtype, also from unaligned bytes", () => {
    const floats = new Float32Array([1.5, -2]);
    const unaligned = new Uint8Array(9);
    unaligned.set(new Uint8Array(floats.buffer), 1);
    const obs = decodeObs(caps({}), unaligned.subarray(1));
    expect(obs).toBeInstanceOf(Float32Array);
    expect([...obs]).toEqual([1.5, -2]);
    const ints = decodeObs(
      caps({ obsSpec: { dtype: DType.D_TYPE_I32, shape: [1] } }),
      Uint8Array.of(255, 255, 255, 255),
    );
    expect([...ints]).toEqual([-1]);
    const bytes = decodeObs(
      caps({ obsSpec: { dtype: DType.D_TYPE_U8, shape: [2] } }),
      Uint8Array.of(7, 9),
    );
    expect([...bytes]).toEqual([7, 9]);
    expect(() => decodeObs(caps({ obsSpec: undefined }), new Uint8Array(0))).toThrow(
      /cannot decode/,
    );
  });

  it("refuses discrete actions that are not whole numbers in u32 range instead of rounding them", () => {
    for (const bad of [Number.NaN, 1.5, -1, 2 ** 32, Number.POSITIVE_INFINITY]) {
      expect(() => encodeAction(caps({}), bad)).toThrow(/test-v1: action .* whole number/);
    }
    const multi = caps({
      actionSpace: { $case: "multi", value: { nvec: [3, 3] } },
      actionBytes: 8,
    });
    expect(() => encodeAction(multi, [1, Number.NaN])).toThrow(/action\[1\] .* whole number/);
    expect(() => encodeAction(multi, [0.5, 1])).toThrow(/action\[0\] .* whole number/);
    expect([...encodeAction(multi, [2, 0])]).toEqual([2, 0, 0, 0, 0, 0, 0, 0]);
  });

  it("accepts every uint64 seed and refuses the ones the wire cannot carry instead of wrapping", () => {
    expect(toSeed(0)).toBe(0n);
    expect(toSeed(42)).toBe(42n);
    expect(toSeed(2n ** 64n - 1n)).toBe(2n ** 64n - 1n);
    for (const bad of [-1, -1n, 2n ** 64n, 1.5, Number.NaN, 2 ** 60]) {
      expect(() => toSeed(bad)).toThrow(RangeError);
    }
  });

  it("keeps the typed code of an error that is already an EngineCallError", () => {
    const original = new EngineCallError(5, "UnknownBuild", "gone", "req-1");
    const again = toEngineCallError(original);
    expect(again).toBe(original);
  });
});
