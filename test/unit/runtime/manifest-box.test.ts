import { describe, expect, it } from "vitest";
import { LoadError } from "../../../host/runtime/errors.js";
import { parseManifest } from "../../../host/runtime/manifest.js";

function boxManifest(low: number, high: number): Uint8Array {
  const manifest = {
    abi_version: 1,
    env_id: "box-v1",
    version: "1.0.0",
    encoding: { state: "s:v1", action: "box_f32:v1", obs: "f32x1:v1", schema_version: 1 },
    action_space: { box: { low: [low], high: [high], shape: [1] } },
    observation: { dtype: "f32", shape: [1] },
    players: 1,
    max_horizon: 10,
    preferred_batch: 1,
    state_bytes: 4,
    action_bytes: 4,
    obs_bytes: 4,
    hint_max_bytes: 0,
  };
  return new TextEncoder().encode(JSON.stringify(manifest));
}

describe("box bounds in the manifest", () => {
  it("rejects a bound that is finite as a double but infinite as the f32 an action holds", () => {
    let error: unknown;
    try {
      parseManifest(boxManifest(-1e39, 1));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(LoadError);
    expect((error as LoadError).code).toBe("BadManifest");
    expect((error as LoadError).message).toMatch(/action_space\.box\.low/);
  });

  it("accepts the largest finite f32 bounds", () => {
    const max = 3.4028234663852886e38;
    expect(parseManifest(boxManifest(-max, max)).action_space).toEqual({
      box: { low: [-max], high: [max], shape: [1] },
    });
  });
});
