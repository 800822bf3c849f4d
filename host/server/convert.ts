import {
  type Capabilities,
  DType,
  type EngineId,
  type ResetResponse,
  type StepResponse,
} from "../proto/generated/engine/v1/engine.js";
import type { BuildRef, EnvCapabilities, Transition } from "../runtime/engine.js";
import { actionSpaceKind } from "../runtime/manifest.js";

/**
 * Conversions between the engine's in-process types and the generated wire types. Byte arrays are
 * wrapped, not copied: the engine hands out fresh arrays that the caller owns.
 */

/** A Buffer view over `bytes` without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A Buffer view over the bytes of a typed array (little-endian on every platform Node runs on). */
export function typedAsBuffer(array: Float32Array | Uint32Array | Int8Array): Buffer {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}

export function engineId(build: BuildRef): EngineId {
  return { envId: build.envId, buildId: build.buildId };
}

const DTYPES = { f32: DType.D_TYPE_F32, u8: DType.D_TYPE_U8, i32: DType.D_TYPE_I32 } as const;

export function toCapabilities(caps: EnvCapabilities): Capabilities {
  const m = caps.manifest;
  const space = actionSpaceKind(m.action_space);
  let actionSpace: Capabilities["actionSpace"];
  if (space.kind === "discrete") actionSpace = { $case: "discreteN", value: space.n };
  else if (space.kind === "multi_discrete") {
    actionSpace = { $case: "multi", value: { nvec: [...space.nvec] } };
  } else {
    actionSpace = {
      $case: "continuous",
      value: { low: [...space.low], high: [...space.high], shape: [...space.shape] },
    };
  }
  return {
    id: engineId(caps),
    enc: {
      state: m.encoding.state,
      action: m.encoding.action,
      obs: m.encoding.obs,
      schemaVersion: m.encoding.schema_version,
    },
    maxHorizon: m.max_horizon,
    actionSpace,
    preferredBatch: m.preferred_batch,
    players: m.players,
    stateBytes: m.state_bytes,
    actionBytes: m.action_bytes,
    obsBytes: m.obs_bytes,
    obsSpec: { dtype: DTYPES[m.observation.dtype], shape: [...m.observation.shape] },
    legalMaskBytes: caps.legalMaskBytes,
    hintMaxBytes: m.hint_max_bytes,
    maxBatch: caps.maxBatch,
    maxRolloutSteps: caps.maxRolloutSteps,
    version: m.version,
    description: m.description ?? "",
  };
}

export function toResetResponse(t: Transition): ResetResponse {
  return {
    state: asBuffer(t.state),
    obs: asBuffer(t.obs),
    id: engineId(t.build),
    currentPlayer: t.currentPlayer,
    legalMask: asBuffer(t.legalMask),
  };
}

export function toStepResponse(t: Transition): StepResponse {
  return {
    state: asBuffer(t.state),
    obs: asBuffer(t.obs),
    reward: t.reward,
    done: t.terminated || t.truncated,
    terminated: t.terminated,
    truncated: t.truncated,
    currentPlayer: t.currentPlayer,
    legalMask: asBuffer(t.legalMask),
    playerRewards: Array.from(t.playerRewards),
    id: engineId(t.build),
  };
}
