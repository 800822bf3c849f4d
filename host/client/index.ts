/**
 * The TypeScript client of the Cartridge Engine service.
 *
 * ```ts
 * const client = await EngineClient.connect("127.0.0.1:50051");
 * const env = await client.make("tictactoe-v1");
 * let { obs, info } = await env.reset({ seed: 42 });
 * const { reward, terminated, truncated } = await env.step(4);
 * client.close();
 * ```
 */
export { type DecodedChunk, decodeChunk } from "./batch.js";
export { type Action, decodeObs, encodeAction, type Observation } from "./codec.js";
export type { ClientCredentialsOptions } from "./credentials.js";
export {
  type BatchSimulateOptions,
  type CallSettings,
  type ConnectOptions,
  EngineClient,
} from "./engine-client.js";
export { Env, type ResetResult, type StepInfo, type StepResult } from "./env.js";
export { EngineCallError } from "./errors.js";
