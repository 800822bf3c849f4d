import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { ApplyContext } from "../../../host/consensus/statemachine.js";
import {
  type ConsoleMachine,
  createConsoleMachine,
  decodeOutcome,
  encodeKvCommand,
  encodeManifestCommand,
  type ManifestCommand,
} from "../../../host/replication/index.js";
import {
  decodeSessionResult,
  encodeSessionCommand,
} from "../../../host/replication/sessions/session-commands.js";
import { CartridgeEngine } from "../../../host/runtime/cartridge-engine.js";
import { InlineEngine } from "../../../host/runtime/inline-engine.js";
import { Registry } from "../../../host/runtime/registry.js";
import { counterVariant, replaceOnce } from "../../fixtures/counter-variants.js";
import { build, sha256 } from "./manifest-helpers.js";
import { u32 } from "./session-helpers.js";

/** What a generated command means; turned into bytes against the replicas' history. */
type Intent =
  | { kind: "install"; module: number; makeCurrent: boolean; who: number; wrongHash: boolean }
  | { kind: "setCurrent" | "retire"; module: number }
  | { kind: "allow"; modules: number[] }
  | { kind: "create"; env: number; pin: number | undefined; seed: number }
  | { kind: "step"; session: number; expectedStep: number; action: number }
  | { kind: "close"; session: number }
  | { kind: "put"; key: number; value: number }
  | { kind: "checkpoint" };

interface Module {
  readonly envId: string;
  readonly bytes: Uint8Array;
  readonly id: string;
}

let modules: Module[] = [];
const ENVS = ["counter-v1", "other-v1", "missing-v1"];
const WHO = ["", "alice", "bob"];

beforeAll(async () => {
  const broken = await counterVariant((w) => replaceOnce(w, '(export "cartridge_step")', ""));
  const list: [string, Uint8Array][] = [
    ["counter-v1", await build(0)],
    ["counter-v1", await build(1)],
    ["counter-v1", await build(2)],
    ["other-v1", await build(0, "other-v1")],
    ["counter-v1", broken],
  ];
  modules = list.map(([envId, bytes]) => ({ envId, bytes, id: sha256(bytes) }));
});

const moduleIndex = fc.nat(4);
const intentArb: fc.Arbitrary<Intent> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("install" as const),
      module: moduleIndex,
      makeCurrent: fc.boolean(),
      who: fc.nat(2),
      wrongHash: fc.nat(9).map((n) => n === 0),
    }),
  },
  fc.record({
    kind: fc.constantFrom("setCurrent" as const, "retire" as const),
    module: moduleIndex,
  }),
  fc.record({
    kind: fc.constant("allow" as const),
    modules: fc.uniqueArray(moduleIndex, { maxLength: 3 }),
  }),
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("create" as const),
      env: fc.nat(2),
      pin: fc.option(moduleIndex, { nil: undefined }),
      seed: fc.nat(1000),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("step" as const),
      session: fc.nat(7),
      expectedStep: fc.nat(4),
      action: fc.nat(3),
    }),
  },
  fc.record({ kind: fc.constant("close" as const), session: fc.nat(7) }),
  fc.record({ kind: fc.constant("put" as const), key: fc.nat(3), value: fc.nat(9) }),
  fc.record({ kind: fc.constant("checkpoint" as const) }),
);

function replica(): ConsoleMachine {
  const registry = new Registry({ evictOldBuilds: false });
  return createConsoleMachine({
    registry,
    runtime: new InlineEngine(new CartridgeEngine(registry)),
  });
}

function manifestCommand(intent: Intent): ManifestCommand | undefined {
  const module = "module" in intent ? (modules[intent.module] as Module) : undefined;
  switch (intent.kind) {
    case "install":
      return {
        op: "install",
        envId: (module as Module).envId,
        // Now and then the bytes do not match the hash the command names.
        sha256: intent.wrongHash
          ? (modules[(intent.module + 1) % modules.length] as Module).id
          : (module as Module).id,
        module: (module as Module).bytes,
        makeCurrent: intent.makeCurrent,
        deployedBy: WHO[intent.who] ?? "",
      };
    case "setCurrent":
    case "retire":
      return { op: intent.kind, envId: (module as Module).envId, buildId: (module as Module).id };
    case "allow":
      return {
        op: "allow",
        envId: "counter-v1",
        sha256s: intent.modules.map((i) => (modules[i] as Module).id),
      };
    default:
      return undefined;
  }
}

/** The command bytes of an intent, given the sessions created so far (ids from the outcomes). */
function encode(intent: Intent, sessions: string[], lead: ConsoleMachine, index: number) {
  const manifest = manifestCommand(intent);
  if (manifest !== undefined) return encodeManifestCommand(manifest);
  const sessionId = () => sessions[("session" in intent ? intent.session : 0) % sessions.length];
  switch (intent.kind) {
    case "create":
      return encodeSessionCommand({
        op: "create",
        envId: ENVS[intent.env] ?? "counter-v1",
        buildId: intent.pin === undefined ? "" : (modules[intent.pin] as Module).id,
        seed: BigInt(intent.seed),
        hint: new Uint8Array(),
        stampMs: index,
      });
    case "step":
    case "close": {
      const id = sessionId();
      if (id === undefined) return encodeKvCommand({ op: "get", key: "none" });
      return intent.kind === "step"
        ? encodeSessionCommand({
            op: "step",
            sessionId: id,
            expectedStep: intent.expectedStep,
            action: u32(intent.action),
            stampMs: index,
          })
        : encodeSessionCommand({ op: "close", sessionId: id, stampMs: index });
    }
    case "put":
      return encodeKvCommand({ op: "put", key: `k${intent.key}`, value: u32(intent.value) });
    default:
      return (
        lead.checkpoint.checkpointCommand(index - 1) ?? encodeKvCommand({ op: "get", key: "none" })
      );
  }
}

/** Outcomes seen over all runs, by intent kind, so the test shows it exercised real work. */
const seen = new Map<string, { ok: number; rejected: number }>();
function count(kind: string, ok: boolean): void {
  const entry = seen.get(kind) ?? { ok: 0, rejected: 0 };
  if (ok) entry.ok += 1;
  else entry.rejected += 1;
  seen.set(kind, entry);
}

describe("the console state machine (property)", () => {
  it("random manifest, session and KV commands give identical results and hashes on every replica, through snapshot and restore", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(intentArb, { minLength: 5, maxLength: 24 }),
        fc.array(fc.tuple(fc.nat(23), fc.nat(2)), { maxLength: 3 }),
        async (intents, restores) => {
          const replicas = [replica(), replica(), replica()];
          const sessions: string[] = [];
          for (const [i, intent] of intents.entries()) {
            for (const [at, which] of restores) {
              if (at !== i) continue;
              const fresh = replica();
              fresh.machine.restore((replicas[which] as ConsoleMachine).machine.snapshot());
              if (i % 2 === 0) await fresh.machine.settled();
              replicas[which] = fresh;
            }
            const index = i + 1;
            const command = encode(intent, sessions, replicas[0] as ConsoleMachine, index);
            const context: ApplyContext = { index, clientId: `c${i % 3}`, requestId: index };
            const results = await Promise.all(
              replicas.map((r) => r.machine.apply(command, context)),
            );
            for (const result of results) expect(result).toEqual(results[0]);
            const outcome = decodeOutcome(results[0] as Uint8Array);
            count(intent.kind, outcome.ok);
            if (outcome.ok && intent.kind === "create") {
              const created = decodeSessionResult(outcome.body);
              if (created.op === "create") sessions.push(created.session.sessionId);
            }
          }
          const [first, ...rest] = replicas as [ConsoleMachine, ...ConsoleMachine[]];
          for (const other of rest) {
            expect(other.checkpoint.status().hash).toBe(first.checkpoint.status().hash);
            expect(other.machine.snapshot()).toEqual(first.machine.snapshot());
            expect(other.manifest.listBuilds()).toEqual(first.manifest.listBuilds());
          }
        },
      ),
      { numRuns: 12 },
    );
    // Not vacuous: builds were installed and refused, sessions created and stepped.
    for (const kind of ["install", "create", "step"]) {
      expect(seen.get(kind)?.ok ?? 0, kind).toBeGreaterThan(0);
    }
    expect(seen.get("install")?.rejected ?? 0).toBeGreaterThan(0);
  }, 120_000);
});
