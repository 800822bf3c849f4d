import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CartridgeFolder } from "../../../host/node/cartridge-folder.js";
import { ConsoleReplica } from "../../../host/node/cluster-node.js";
import { embeddedNodeConfig } from "../../../host/node/config.js";
import { ManifestSink } from "../../../host/node/manifest-sink.js";
import {
  type ConsoleMachine,
  createConsoleMachine,
} from "../../../host/replication/console-machine.js";
import { RegistryBuildHost } from "../../../host/replication/manifest/registry-build-host.js";
import { ReplicatedManifest } from "../../../host/replication/manifest-console.js";
import {
  createEngine,
  InlineEngine,
  LoadError,
  type Registry,
} from "../../../host/runtime/index.js";

const TTT = "tictactoe-v1";
const BUNDLED = fileURLToPath(new URL("../../../build/cartridges/", import.meta.url));

/** The same module with a custom section appended: another build of the same game. */
function rebuilt(bytes: Uint8Array, tag: string): Uint8Array {
  const name = new TextEncoder().encode("reload");
  const content = [name.length, ...name, ...new TextEncoder().encode(tag)];
  return Buffer.concat([bytes, Uint8Array.from([0, content.length, ...content])]);
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/**
 * The cartridge folder of a single node (the embedded default) over the real console state
 * machine and single-node engine: files become manifest installs through the log, and the
 * registry serves only what the manifest applied.
 */
describe("the cartridge folder of a single node", () => {
  let dir: string;
  let registry: Registry;
  let parts: ConsoleMachine;
  let replica: ConsoleReplica;
  let sink: ManifestSink;
  const errors: { source: string; error: unknown }[] = [];

  beforeAll(() => {
    if (!existsSync(join(BUNDLED, `${TTT}.wasm`))) throw new Error("run npm run build first");
  });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "cartridge-folder-"));
    const runtime = createEngine({ evictOldBuilds: false });
    registry = runtime.registry;
    parts = createConsoleMachine({ registry, runtime: new InlineEngine(runtime.engine) });
    const logger = pino({ level: "silent" });
    replica = await ConsoleReplica.start(embeddedNodeConfig(), () => "", logger, parts.machine);
    sink = new ManifestSink({
      replica,
      manifest: new ReplicatedManifest({
        consensus: replica.engine,
        manifest: parts.manifest,
        host: new RegistryBuildHost(registry),
      }),
      applied: parts.manifest,
      registry,
      forward: false,
      removeOnDelete: true,
      logger,
    });
    errors.length = 0;
    removed.length = 0;
  });

  afterEach(async () => {
    sink.stop();
    await replica.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const removed: string[] = [];
  const folder = () =>
    new CartridgeFolder(dir, sink, {
      onError: (source, error) => errors.push({ source, error }),
      onRemoved: (source) => removed.push(source),
    });

  it("installs each file through the log; a broken file never reaches it", async () => {
    await cp(join(BUNDLED, `${TTT}.wasm`), join(dir, `${TTT}.wasm`));
    await writeFile(join(dir, "broken.wasm"), "not a module");
    await folder().loadAll();
    const original = sha256(await readFile(join(dir, `${TTT}.wasm`)));
    expect(parts.manifest.listBuilds()).toMatchObject([
      { envId: TTT, buildId: original, current: true },
    ]);
    expect(registry.list().map((caps) => [caps.envId, caps.buildId])).toEqual([[TTT, original]]);
    expect(errors.map((e) => e.source)).toEqual([join(dir, "broken.wasm")]);
    expect(errors[0]?.error).toBeInstanceOf(LoadError);
    // One slot for the install: the broken file was refused before proposing.
    expect(replica.status().appliedIndex).toBeLessThanOrEqual(2);
  });

  it("does not propose at start a build the manifest already holds, so a restart keeps a later deploy", async () => {
    const bytes = await readFile(join(BUNDLED, `${TTT}.wasm`));
    await writeFile(join(dir, `${TTT}.wasm`), bytes);
    await folder().loadAll();
    // A deploy of another build, made current.
    const second = rebuilt(bytes, "v2");
    await sink.install(second, { envId: TTT, buildId: sha256(second) }, true);
    const applied = replica.status().appliedIndex;
    // The node starts again with the same folder: nothing is proposed, the deploy stays current.
    await folder().loadAll();
    expect(replica.status().appliedIndex).toBe(applied);
    expect(parts.manifest.currentBuild(TTT)).toBe(sha256(second));
    expect(registry.resolve({ envId: TTT }).capabilities.buildId).toBe(sha256(second));
  });

  it("turns a changed file into the env's current build, and a deleted one into retired builds, when watching", async () => {
    const bytes = await readFile(join(BUNDLED, `${TTT}.wasm`));
    await writeFile(join(dir, `${TTT}.wasm`), bytes);
    const watched = folder();
    await watched.loadAll();
    await watched.watch();
    try {
      const second = rebuilt(bytes, "v2");
      await writeFile(join(dir, `${TTT}.wasm`), second);
      await waitFor(() => parts.manifest.currentBuild(TTT) === sha256(second));
      await watched.settled();
      expect(registry.resolve({ envId: TTT }).capabilities.buildId).toBe(sha256(second));
      // The first build stays for whoever pinned it.
      expect(parts.manifest.hasBuild(TTT, sha256(bytes))).toBe(true);

      // Deleting the file takes the env away (single-node dev mode), through the log.
      await rm(join(dir, `${TTT}.wasm`));
      await waitFor(() => parts.manifest.listBuilds(TTT).length === 0);
      await watched.settled();
      expect(registry.list()).toEqual([]);
    } finally {
      await watched.close();
    }
  });

  it("serves one file per env id: a copy is refused naming both files, and deleting it changes nothing", async () => {
    const original = join(dir, `${TTT}.wasm`);
    const bytes = await readFile(join(BUNDLED, `${TTT}.wasm`));
    await writeFile(original, bytes);
    const watched = folder();
    await watched.loadAll();
    await watched.watch();
    try {
      // cp tictactoe-v1.wasm backup.wasm (another build of the same env, so a replacement shows).
      const backup = join(dir, "backup.wasm");
      await writeFile(backup, rebuilt(bytes, "backup"));
      await waitFor(() => errors.length > 0);
      await watched.settled();
      const refusal = errors[0]?.error as LoadError;
      expect(errors[0]?.source).toBe(backup);
      expect(refusal).toBeInstanceOf(LoadError);
      expect(refusal.code).toBe("EnvConflict");
      expect(refusal.message).toContain(backup);
      expect(refusal.message).toContain(original);
      expect(parts.manifest.currentBuild(TTT)).toBe(sha256(bytes));
      expect(parts.manifest.listBuilds(TTT)).toHaveLength(1);

      // rm backup.wasm: the env is still served by the original file.
      const applied = replica.status().appliedIndex;
      await rm(backup);
      await waitFor(() => removed.includes(backup));
      expect(replica.status().appliedIndex).toBe(applied);
      expect(registry.resolve({ envId: TTT }).capabilities.buildId).toBe(sha256(bytes));

      // Again, and this time the original goes: the refused copy takes the env over.
      await writeFile(backup, rebuilt(bytes, "backup"));
      await waitFor(() => errors.length > 1);
      await watched.settled();
      await rm(original);
      await waitFor(() => parts.manifest.currentBuild(TTT) === sha256(rebuilt(bytes, "backup")));
      await watched.settled();
      expect(registry.resolve({ envId: TTT }).capabilities.buildId).toBe(
        sha256(rebuilt(bytes, "backup")),
      );
    } finally {
      await watched.close();
    }
  });

  it("refuses the second of two files declaring one env at start, in name order", async () => {
    const bytes = await readFile(join(BUNDLED, `${TTT}.wasm`));
    await writeFile(join(dir, "a.wasm"), bytes);
    await writeFile(join(dir, "b.wasm"), rebuilt(bytes, "b"));
    await folder().loadAll();
    expect(errors.map((e) => [e.source, (e.error as LoadError).code])).toEqual([
      [join(dir, "b.wasm"), "EnvConflict"],
    ]);
    expect(parts.manifest.currentBuild(TTT)).toBe(sha256(bytes));
  });
});

async function waitFor(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 20));
}
