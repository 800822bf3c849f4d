import fc from "fast-check";
import type { SimResultChunk } from "../../host/proto/generated/engine/v1/engine.js";

/**
 * Random SimResultChunk messages, shared by the server's chunk encoder and the client's chunk
 * decoder tests. Bytes columns are sometimes empty, sometimes long enough for a multi-byte length
 * prefix (up to `maxColumnBytes`); `buildIdUnit` sets which characters a build id draws.
 */
export function simResultChunkArbitrary(options: {
  readonly maxColumnBytes: number;
  readonly buildIdUnit?: "grapheme";
}): fc.Arbitrary<SimResultChunk> {
  const column = fc
    .oneof(
      fc.constant(new Uint8Array(0)),
      fc.uint8Array({ maxLength: 40 }),
      fc.uint8Array({ minLength: 120, maxLength: options.maxColumnBytes }),
    )
    .map((bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const buildId =
    options.buildIdUnit === undefined ? fc.string() : fc.string({ unit: options.buildIdUnit });
  return fc.record({
    id: fc.option(fc.record({ envId: fc.string(), buildId }), { nil: undefined }),
    rows: fc.oneof(fc.constant(0), fc.nat(200), fc.nat()),
    index: column,
    step: column,
    actions: column,
    states: column,
    obs: column,
    rewards: column,
    flags: column,
    currentPlayers: column,
    playerRewards: column,
    statuses: column,
    legalMasks: column,
    finalObs: column,
    finalStates: column,
  });
}
