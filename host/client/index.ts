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
 *
 * Game sessions held and replicated by the server:
 *
 * ```ts
 * const session = await client.session("tictactoe-v1", { seed: 7 });
 * const { obs, currentPlayer } = await session.step(4);
 * const replay = await session.export(); // build, seed, actions
 * await session.close();
 * ```
 */

export type { Build, ListBuildsResponse } from "../proto/generated/manifest/v1/manifest.js";
export { type DecodedChunk, decodeChunk } from "./batch.js";
export { type Action, decodeObs, encodeAction, type Observation } from "./codec.js";
export type { ClientCredentialsOptions } from "./credentials.js";
export {
  type BatchSimulateOptions,
  type CallSettings,
  type ConnectOptions,
  type CreateSessionOptions,
  EngineClient,
} from "./engine-client.js";
export { Env, type ResetResult, type StepInfo, type StepResult } from "./env.js";
export { EngineCallError } from "./errors.js";
export type { FailoverOptions } from "./failover-channel.js";
export { GameSession, type SessionWatchEvent, type WatchOptions } from "./session.js";
export type {
  SessionCallSettings,
  SessionExport,
  SessionInfo,
  SessionPage,
  SessionTransition,
} from "./sessions.js";
