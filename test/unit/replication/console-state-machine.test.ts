import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ConsoleStateMachine,
  decodeKvResult,
  decodeOutcome,
  encodeCommand,
  encodeKvCommand,
  KV_LIMITS,
  type KvCommand,
  KvStore,
  PART_TAGS,
  ReplicationError,
  type StatePart,
  unwrapOutcome,
} from "../../../host/replication/index.js";

const bytes = (text: string) => new TextEncoder().encode(text);
const context = (index: number) => ({ index, clientId: "c", requestId: index });

function machine(): ConsoleStateMachine {
  return new ConsoleStateMachine([new KvStore()]);
}

/** Applies through a machine whose parts are all synchronous: the result must not be a promise. */
function applySync(sm: ConsoleStateMachine, command: Uint8Array, index: number): Uint8Array {
  const result = sm.apply(command, context(index));
  if (result instanceof Promise) throw new Error("a synchronous part gave a promise");
  return result;
}

function run(sm: ConsoleStateMachine, command: KvCommand, index: number) {
  return decodeKvResult(unwrapOutcome(applySync(sm, encodeKvCommand(command), index)));
}

describe("ConsoleStateMachine with the KV part", () => {
  it("puts, gets and compares-and-sets by version", () => {
    const sm = machine();
    expect(run(sm, { op: "get", key: "a" }, 1)).toEqual({
      op: "get",
      found: false,
      version: 0,
      value: new Uint8Array(),
    });
    expect(run(sm, { op: "put", key: "a", value: bytes("x") }, 2)).toEqual({
      op: "put",
      version: 1,
    });
    expect(run(sm, { op: "cas", key: "a", expectedVersion: 0, value: bytes("y") }, 3)).toEqual({
      op: "cas",
      succeeded: false,
      version: 1,
      value: bytes("x"),
    });
    expect(run(sm, { op: "cas", key: "a", expectedVersion: 1, value: bytes("y") }, 4)).toEqual({
      op: "cas",
      succeeded: true,
      version: 2,
      value: new Uint8Array(),
    });
    expect(
      run(sm, { op: "cas", key: "b", expectedVersion: 0, value: bytes("z") }, 5),
    ).toMatchObject({ succeeded: true, version: 3 });
    expect(run(sm, { op: "get", key: "a" }, 6)).toEqual({
      op: "get",
      found: true,
      version: 2,
      value: bytes("y"),
    });
  });

  it("refuses oversized keys and values before proposing", () => {
    const bigKey = "k".repeat(KV_LIMITS.maxKeyBytes + 1);
    const error = (() => {
      try {
        encodeKvCommand({ op: "put", key: bigKey, value: new Uint8Array() });
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(ReplicationError);
    expect((error as ReplicationError).code).toBe("LimitExceeded");
    expect(() =>
      encodeKvCommand({
        op: "put",
        key: "k",
        value: new Uint8Array(KV_LIMITS.maxValueBytes + 1),
      }),
    ).toThrow(/at most 65536/);
    expect(() => encodeKvCommand({ op: "get", key: "" })).toThrow(/must not be empty/);
  });

  it("turns a malformed or unknown command into the same rejected outcome everywhere", () => {
    const sm = machine();
    const unknownTag = applySync(sm, encodeCommand(9 as typeof PART_TAGS.kv, bytes("x")), 1);
    expect(decodeOutcome(unknownTag)).toMatchObject({ ok: false, code: "BadCommand" });
    const truncated = encodeKvCommand({ op: "put", key: "a", value: bytes("xyz") }).subarray(0, 6);
    expect(decodeOutcome(applySync(sm, truncated, 2))).toMatchObject({
      ok: false,
      code: "BadCommand",
    });
    expect(decodeOutcome(applySync(sm, new Uint8Array(), 3))).toMatchObject({ ok: false });
  });

  it("never throws anything but a rejection for random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (command) => {
        const outcome = decodeOutcome(applySync(machine(), command, 1));
        expect(typeof outcome.ok).toBe("boolean");
      }),
    );
  });

  it("refuses a corrupt snapshot with BadSnapshot", () => {
    const sm = machine();
    run(sm, { op: "put", key: "a", value: bytes("x") }, 1);
    const snapshot = sm.snapshot();
    expect(() => machine().restore(snapshot.subarray(0, snapshot.length - 1))).toThrow(
      ReplicationError,
    );
    const foreignTag = snapshot.slice();
    foreignTag[8] = 7; // the first part's tag
    expect(() => machine().restore(foreignTag)).toThrow(/unknown part tag 7/);
  });

  const commandArb: fc.Arbitrary<KvCommand> = fc.oneof(
    fc.record({
      op: fc.constant("put" as const),
      key: fc.constantFrom("a", "b", "c", "é"),
      value: fc.uint8Array({ maxLength: 8 }),
    }),
    fc.record({ op: fc.constant("get" as const), key: fc.constantFrom("a", "b", "c", "é") }),
    fc.record({
      op: fc.constant("cas" as const),
      key: fc.constantFrom("a", "b", "c", "é"),
      expectedVersion: fc.nat(12),
      value: fc.uint8Array({ maxLength: 8 }),
    }),
  );

  it("gives identical results and snapshots on replicas restored at random points", () => {
    fc.assert(
      fc.property(
        fc.array(commandArb, { maxLength: 60 }),
        fc.array(fc.nat(60), { maxLength: 4 }),
        (commands, restorePoints) => {
          const a = machine();
          let b = machine();
          commands.forEach((command, i) => {
            if (restorePoints.includes(i)) {
              const restored = machine();
              restored.restore(b.snapshot());
              b = restored;
            }
            const encoded = encodeKvCommand(command);
            const left = applySync(a, encoded, i + 1);
            const right = applySync(b, encoded, i + 1);
            expect(right).toEqual(left);
          });
          expect(b.snapshot()).toEqual(a.snapshot());
        },
      ),
      { numRuns: 60 },
    );
  });
});

/** A part whose apply answers as the test tells it to: bytes, a promise, or an error. */
class ScriptedPart implements StatePart {
  readonly tag = PART_TAGS.manifest;
  readonly name = "scripted";
  constructor(private readonly answer: () => Uint8Array | Promise<Uint8Array>) {}
  apply(): Uint8Array | Promise<Uint8Array> {
    return this.answer();
  }
  snapshot(): Uint8Array {
    return new Uint8Array();
  }
  restore(): void {}
  reset(): void {}
}

describe("ConsoleStateMachine with an asynchronous part", () => {
  const command = encodeCommand(PART_TAGS.manifest, bytes("x"));
  const withPart = (answer: () => Uint8Array | Promise<Uint8Array>) =>
    new ConsoleStateMachine([new KvStore(), new ScriptedPart(answer)]);

  it("awaits the part and wraps its result in an ok outcome", async () => {
    const result = withPart(async () => bytes("done")).apply(command, context(1));
    expect(result).toBeInstanceOf(Promise);
    expect(unwrapOutcome(await result)).toEqual(bytes("done"));
  });

  it("keeps the KV path synchronous beside an asynchronous part", () => {
    const sm = withPart(async () => bytes("done"));
    expect(run(sm, { op: "put", key: "a", value: bytes("x") }, 1)).toEqual({
      op: "put",
      version: 1,
    });
  });

  it("turns a rejected ReplicationError into a rejected outcome", async () => {
    const sm = withPart(() => Promise.reject(new ReplicationError("LimitExceeded", "too many")));
    expect(decodeOutcome(await sm.apply(command, context(1)))).toEqual({
      ok: false,
      code: "LimitExceeded",
      message: "too many",
    });
  });

  it("propagates any other error, thrown or rejected, so the driver halts", async () => {
    const crash = new Error("worker crashed");
    await expect(withPart(() => Promise.reject(crash)).apply(command, context(1))).rejects.toBe(
      crash,
    );
    expect(() =>
      withPart(() => {
        throw crash;
      }).apply(command, context(1)),
    ).toThrow(crash);
  });
});
