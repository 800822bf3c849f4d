import { existsSync } from "node:fs";
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type ConnectOptions, EngineClient } from "../../host/client/index.js";
import {
  type CartridgeEngine,
  createEngine,
  InlineEngine,
  loadDirectory,
  type Registry,
} from "../../host/runtime/index.js";
import { ServerMetrics } from "../../host/server/metrics.js";
import {
  type RunningServer,
  type StartServerOptions,
  startServer,
} from "../../host/server/server.js";

/** The bundled cartridges, built by `npm run build` (npm test builds them first). */
export const BUNDLED_CARTRIDGES = resolve(
  fileURLToPath(new URL("../../build/cartridges", import.meta.url)),
);

export function bundledCartridge(envId: string): string {
  const path = join(BUNDLED_CARTRIDGES, `${envId}.wasm`);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run \`npm run build\` to build the bundled cartridges`);
  }
  return path;
}

/** A real engine over a folder, a real server on port 0 and a real client. */
export interface Harness {
  readonly engine: CartridgeEngine;
  readonly registry: Registry;
  readonly server: RunningServer;
  readonly metrics: ServerMetrics;
  readonly client: EngineClient;
  close(): Promise<void>;
}

export async function startHarness(
  dir: string = BUNDLED_CARTRIDGES,
  options: Partial<StartServerOptions> = {},
  connect: ConnectOptions = {},
): Promise<Harness> {
  const { engine, registry } = createEngine();
  const metrics = new ServerMetrics({ collectProcessMetrics: false });
  registry.on((event) => metrics.recordRegistryEvent(event));
  const loaded = await loadDirectory(registry, dir);
  if (loaded.registered.length === 0) throw new Error(`no cartridges loaded from ${dir}`);
  const server = await startServer({ engine: new InlineEngine(engine), metrics, ...options });
  const client = await EngineClient.connect(server.address, connect);
  return {
    engine,
    registry,
    server,
    metrics,
    client,
    close: async () => {
      client.close();
      await server.shutdown(2000);
    },
  };
}

/** A temporary folder holding copies of the given bundled cartridges. */
export async function tempCartridgeDir(envIds: readonly string[]): Promise<{
  dir: string;
  remove(): Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), "cartridge-it-"));
  for (const envId of envIds) await cp(bundledCartridge(envId), join(dir, `${envId}.wasm`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Polls `check` until it returns true (at most `attempts` times, 20 ms apart). */
export async function eventually(check: () => boolean | Promise<boolean>, attempts = 250) {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("condition not reached");
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<{
  code: number;
  errorCode: string;
  message: string;
}> {
  try {
    await promise;
  } catch (error) {
    return error as { code: number; errorCode: string; message: string };
  }
  throw new Error("expected the call to fail");
}
