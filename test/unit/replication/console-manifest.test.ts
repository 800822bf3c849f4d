import { afterEach, describe, expect, it } from "vitest";
import { SingleNodeEngine } from "../../../host/consensus/engine/single-node-engine.js";
import { MemoryStorage } from "../../../host/consensus/storage/memory.js";
import {
  createConsoleMachine,
  RegistryBuildHost,
  ReplicatedConsole,
  ReplicationError,
} from "../../../host/replication/index.js";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import { InlineEngine } from "../../../host/runtime/inline-engine.js";
import { Registry } from "../../../host/runtime/registry.js";
import { counterVariant, replaceOnce } from "../../fixtures/counter-variants.js";
import { build, sha256 } from "./manifest-helpers.js";
import { u32 } from "./session-helpers.js";

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

/** A single-node console whose registry only the manifest drives. */
async function console1() {
  const registry = new Registry({ evictOldBuilds: false });
  const runtime = new InlineEngine(new CartridgeEngine(registry));
  const parts = createConsoleMachine({ registry, runtime });
  const consensus = new SingleNodeEngine({
    nodeId: "solo",
    storage: new MemoryStorage(),
    stateMachine: parts.machine,
  });
  await consensus.start();
  const facade = new ReplicatedConsole({
    consensus,
    sessions: parts.sessions,
    runtime,
    manifest: { reads: parts.manifest, validator: new RegistryBuildHost(registry) },
  });
  stops.push(async () => {
    facade.close();
    await consensus.stop();
  });
  let requestId = 0;
  const ids = () => ({ clientId: "admin", requestId: ++requestId });
  return { facade, registry, parts, ids };
}

async function refusal(work: Promise<unknown>): Promise<ReplicationError> {
  try {
    await work;
  } catch (error) {
    if (error instanceof ReplicationError) return error;
    throw error;
  }
  throw new Error("it was accepted");
}

describe("ReplicatedConsole manifest operations", () => {
  it("deploys, lists, switches and retires builds; sessions run the deployed builds", async () => {
    const { facade, registry, ids } = await console1();
    const [a, b] = [await build(0), await build(1)];
    const first = await facade.deploy({ module: a, makeCurrent: true, deployedBy: "alice" }, ids());
    expect(first).toMatchObject({
      created: true,
      build: { buildId: sha256(a), deployedBy: "alice" },
    });
    const again = await facade.deploy({ module: a, makeCurrent: true, deployedBy: "bob" }, ids());
    expect(again).toMatchObject({ created: false, build: { deployedBy: "alice" } });
    await facade.deploy({ module: b, makeCurrent: false, deployedBy: "bob" }, ids());
    const listed = await facade.listBuilds("counter-v1", { minAppliedIndex: first.index });
    expect(listed.map((x) => [x.buildId, x.current, x.deployedBy])).toEqual([
      [sha256(a), true, "alice"],
      [sha256(b), false, "bob"],
    ]);

    // A session pins the current build; the pinned build cannot be retired.
    const { session } = await facade.createSession({ envId: "counter-v1", seed: 1n }, ids());
    expect(session.buildId).toBe(sha256(a));
    const switched = await facade.setCurrent("counter-v1", sha256(b), ids());
    expect(switched.previousBuildId).toBe(sha256(a));
    expect(registry.resolve({ envId: "counter-v1" }).capabilities.buildId).toBe(sha256(b));
    expect((await refusal(facade.retire("counter-v1", sha256(a), ids()))).code).toBe("InUse");
    // The session keeps its build across the switch.
    const stepped = await facade.stepSession(
      { sessionId: session.sessionId, expectedStep: 0, action: u32(0) },
      ids(),
    );
    expect(stepped.transition.step).toBe(1);
    await facade.closeSession(session.sessionId, ids());
    await facade.retire("counter-v1", sha256(a), ids());
    expect((await facade.listBuilds()).map((x) => x.buildId)).toEqual([sha256(b)]);
  });

  it("refuses a broken module before proposing it, and enforces the allow-list", async () => {
    const { facade, ids, parts } = await console1();
    const broken = await counterVariant((w) => replaceOnce(w, '(export "cartridge_step")', ""));
    const error = await refusal(
      facade.deploy({ module: broken, makeCurrent: true, deployedBy: "" }, ids()),
    );
    expect(error.code).toBe("BadModule");
    expect(parts.checkpoint.status().hashedIndex).toBe(0); // nothing reached the log
    const [a, b] = [await build(0), await build(1)];
    const allowed = await facade.allow("counter-v1", [sha256(a)], ids());
    expect(allowed.sha256s).toEqual([sha256(a)]);
    expect(await facade.allowList("counter-v1")).toEqual([sha256(a)]);
    expect(
      (await refusal(facade.deploy({ module: b, makeCurrent: true, deployedBy: "" }, ids()))).code,
    ).toBe("NotAllowed");
    await facade.deploy({ module: a, makeCurrent: true, deployedBy: "" }, ids());
    expect((await refusal(facade.listBuilds("Not An Env"))).code).toBe("BadArgument");
  });
});
