import { type Logger, pino } from "pino";

/** Log levels an operator can choose. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * The node's logger: JSON lines on stdout, written synchronously.
 *
 * pino's default destination writes asynchronously (sonic-boom hands each chunk to the libuv
 * thread pool), and its exit hook re-sends only what is still queued, not the chunk in flight:
 * `process.exit` right after a log call lost that line on a busy machine ("server stopped" was
 * missing one run in a few). A synchronous destination puts every line in the pipe before the call
 * returns, so the composition root may exit at any point without losing what it logged. A node logs
 * per event (start, reload, failure), not per call, so the cost of a blocking write is small.
 */
export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { service: "cartridge" } }, pino.destination({ dest: 1, sync: true }));
}
