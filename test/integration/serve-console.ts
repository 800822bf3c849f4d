/**
 * Serves the replicated console (Engine + Sessions over the single-node engine, see
 * console-harness.ts) on a free port until SIGTERM, for the Python session tests
 * (clients/python/tests/test_sessions.py): prints "listening on HOST:PORT" to stderr.
 *
 *   node --import tsx test/integration/serve-console.ts
 */
import { startConsoleHarness } from "./console-harness.js";

const harness = await startConsoleHarness();
process.stderr.write(`listening on ${harness.server.address}\n`);
process.once("SIGTERM", () => {
  harness.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
