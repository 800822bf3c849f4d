import { afterEach, describe, expect, it } from "vitest";
import { SingleNodeEngine } from "../../../host/consensus/engine/single-node-engine.js";
import { MemoryStorage } from "../../../host/consensus/storage/memory.js";
import { createConsoleMachine } from "../../../host/replication/console-machine.js";
import { encodeManifestCommand } from "../../../host/replication/manifest/manifest-commands.js";
import { RegistryBuildHost } from "../../../host/replication/manifest/registry-build-host.js";
import { ReplicatedManifest } from "../../../host/replication/manifest-console.js";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import { LoadError } from "../../../host/runtime/errors.js";
import { InlineEngine } from "../../../host/runtime/inline-engine.js";
import { LoadProbe } from "../../../host/runtime/load-probe.js";
import { Registry, type RegistryOptions } from "../../../host/runtime/registry.js";
import { hostileCartridge, PLAIN_LOOP, spinningStart } from "../../fixtures/hostile.js";
import { installOf, Replica } from "./manifest-helpers.js";

/**
 * Only fuel may decide a replicated outcome (issue 10): a module whose start function runs out
 * of fuel is a `BadModule` recorded alike on every replica, but the load watchdog firing inside
 * an apply is a fault of that node, which halts (to recover and catch up), never a result
 * written to its state. Deploy runs the same load first and refuses a `Timeout` unproposed.
 */

/** A start-function budget the spin never exhausts in the life of a test. */
const ENDLESS_START_FUEL = 2 ** 40;
/** Watchdog of this node's load probe, in ms. */
const WATCHDOG_MS = 1000;

const probes: LoadProbe[] = [];
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
  await Promise.all(probes.splice(0).map((probe) => probe.close()));
});

/** Registry options of a node whose loads only the watchdog can stop. */
function slowNode(): RegistryOptions {
  const probe = new LoadProbe({ watchdogMs: WATCHDOG_MS, nice: 0 });
  probes.push(probe);
  return { startBudgetFuel: ENDLESS_START_FUEL, probe };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("it succeeded");
    },
    (error: unknown) => error,
  );
}

describe("a replicated install that only the load watchdog stops", () => {
  it("fuel running out is a recorded BadModule; the watchdog firing fails the apply itself", async () => {
    const hostile = await hostileCartridge(spinningStart(PLAIN_LOOP));
    const byFuel = await new Replica().run(installOf(hostile));
    expect(byFuel).toMatchObject({ ok: false, code: "BadModule" });
    expect(byFuel.ok === false && byFuel.message).toMatch(/^BudgetExceeded: /);

    const slow = new Replica(slowNode());
    const error = await rejection(slow.run(installOf(hostile)));
    // Not a ReplicationError: the state machine rethrows it and the driver halts the replica.
    expect(error).toBeInstanceOf(LoadError);
    expect((error as LoadError).code).toBe("Timeout");
    expect(slow.manifest.listBuilds()).toEqual([]);
    expect(slow.registry.list()).toEqual([]);
  });

  it("halts the replica that applies it, and Deploy refuses it before proposing", async () => {
    const registry = new Registry({ ...slowNode(), evictOldBuilds: false });
    const runtime = new InlineEngine(new CartridgeEngine(registry));
    const { machine, manifest } = createConsoleMachine({ registry, runtime });
    const consensus = new SingleNodeEngine({
      nodeId: "solo",
      storage: new MemoryStorage(),
      stateMachine: machine,
    });
    await consensus.start();
    stops.push(() => consensus.stop());
    const deployer = new ReplicatedManifest({
      consensus,
      manifest,
      host: new RegistryBuildHost(registry),
    });
    const hostile = await hostileCartridge(spinningStart(PLAIN_LOOP));

    const applied = consensus.lastAppliedIndex();
    const refused = await rejection(
      deployer.deploy(
        { module: hostile, makeCurrent: true, deployedBy: "mallory" },
        { clientId: "c1", requestId: 1 },
      ),
    );
    expect((refused as LoadError).code).toBe("Timeout");
    expect(consensus.lastAppliedIndex()).toBe(applied);
    expect(consensus.haltReason()).toBeUndefined();

    // Another node (a faster machine) proposed it: applying it here halts this replica.
    const outcome = await rejection(
      consensus.propose(encodeManifestCommand(installOf(hostile)), {
        clientId: "c2",
        requestId: 1,
      }),
    );
    expect(outcome).toBeInstanceOf(Error);
    expect(consensus.haltReason()?.message).toMatch(/Timeout|load watchdog/);
    expect(manifest.listBuilds()).toEqual([]);
  });
});
