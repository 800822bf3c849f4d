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
  type PART_TAGS,
  ReplicationError,
  unwrapOutcome,
} from "../../../host/replication/index.js";

const bytes = (text: string) => new TextEncoder().encode(text);
const context = (index: number) => ({ index, clientId: "c", requestId: index });

function machine(): ConsoleStateMachine {
  return new ConsoleStateMachine([new KvStore()]);
}

function run(sm: ConsoleStateMachine, command: KvCommand, index: number) {
  return decodeKvResult(unwrapOutcome(sm.apply(encodeKvCommand(command), context(index))));
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
    const unknownTag = sm.apply(encodeCommand(9 as typeof PART_TAGS.kv, bytes("x")), context(1));
    expect(decodeOutcome(unknownTag)).toMatchObject({ ok: false, code: "BadCommand" });
    const truncated = encodeKvCommand({ op: "put", key: "a", value: bytes("xyz") }).subarray(0, 6);
    expect(decodeOutcome(sm.apply(truncated, context(2)))).toMatchObject({
      ok: false,
      code: "BadCommand",
    });
    expect(decodeOutcome(sm.apply(new Uint8Array(), context(3)))).toMatchObject({ ok: false });
  });

  it("never throws anything but a rejection for random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (command) => {
        const outcome = decodeOutcome(machine().apply(command, context(1)));
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
            const left = a.apply(encoded, context(i + 1));
            const right = b.apply(encoded, context(i + 1));
            expect(right).toEqual(left);
          });
          expect(b.snapshot()).toEqual(a.snapshot());
        },
      ),
    );
  });
});
