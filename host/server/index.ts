/**
 * The Engine gRPC server: `startServer` serves an in-process `Engine` (host/runtime) with health
 * checking, reflection, metrics and graceful shutdown. `cartridge serve` (host/cli/serve.ts) is
 * the command-line front end.
 */
export { DEFAULT_LIMITS, type ServerLimits } from "./limits.js";
export { type InstancePoolUse, ServerMetrics } from "./metrics.js";
export { type MetricsEndpoint, serveMetrics } from "./metrics-http.js";
export {
  ENGINE_SERVICE_NAME,
  type RunningServer,
  type ShutdownResult,
  type StartServerOptions,
  startServer,
} from "./server.js";
export { ERROR_CODE_METADATA_KEY, statusForCode, toServiceError } from "./status.js";
