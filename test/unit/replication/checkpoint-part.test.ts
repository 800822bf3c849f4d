import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  CheckpointPart,
  ConsoleStateMachine,
  DivergenceError,
  decodeCheckpointResult,
  decodeOutcome,
  encodeKvCommand,
  KvStore,
  unwrapOutcome,
} from "../../../host/replication/index.js";

const bytes = (text: string) => new TextEncoder().encode(text);

class Node {
  readonly checkpoint: CheckpointPart;
  readonly machine: ConsoleStateMachine;
  constructor(ringEntries?: number) {
    this.checkpoint = new CheckpointPart(ringEntries === undefined ? {} : { ringEntries });
    this.machine = new ConsoleStateMachine([new KvStore(), this.checkpoint]);
  }
  apply(command: Uint8Array, index: number): Uint8Array {
    const result = this.machine.apply(command, { index, clientId: "c", requestId: index });
    if (result instanceof Promise) throw new Error("synchronous parts gave a promise");
    return result;
  }
  put(key: string, value: string, index: number): void {
    this.apply(encodeKvCommand({ op: "put", key, value: bytes(value) }), index);
  }
}

function checkpointOf(node: Node, slot: number): Uint8Array {
  const command = node.checkpoint.checkpointCommand(slot);
  if (command === undefined) throw new Error(`no checkpoint for slot ${slot}`);
  return command;
}

/** The documented chain step, computed independently: sha256(H || slot || lengths || command || outcome). */
function chain(previous: Uint8Array, index: number, command: Uint8Array, outcome: Uint8Array) {
  const header = new DataView(new ArrayBuffer(16));
  header.setBigUint64(0, BigInt(index), true);
  header.setUint32(8, command.length, true);
  header.setUint32(12, outcome.length, true);
  return new Uint8Array(
    createHash("sha256")
      .update(previous)
      .update(new Uint8Array(header.buffer))
      .update(command)
      .update(outcome)
      .digest(),
  );
}

describe("CheckpointPart", () => {
  it("chains sha256(H || slot || lengths || command || outcome), for small and large commands", () => {
    const node = new Node();
    let expected = new Uint8Array(32);
    for (const [index, size] of [
      [1, 8],
      [2, 65_536],
      [4, 3],
    ] as const) {
      const command = encodeKvCommand({ op: "put", key: "k", value: new Uint8Array(size).fill(7) });
      const outcome = node.apply(command, index);
      expected = chain(expected, index, command, outcome);
      expect(node.checkpoint.status().hash).toBe(Buffer.from(expected).toString("hex"));
    }
  });

  it("verifies a checkpoint of a replica that applied the same commands", () => {
    const [a, b] = [new Node(), new Node()];
    for (const node of [a, b]) {
      node.put("k", "1", 1);
      node.put("k", "2", 3);
      node.put("j", "3", 3);
    }
    expect(a.checkpoint.status().hash).toBe(b.checkpoint.status().hash);
    const result = b.apply(checkpointOf(a, 3), 5);
    expect(decodeCheckpointResult(unwrapOutcome(result))).toEqual({ verified: true });
    // An older slot is looked up in the window: the hash after slot 1 (slot 2 had no command).
    expect(decodeCheckpointResult(unwrapOutcome(b.apply(checkpointOf(a, 2), 6)))).toEqual({
      verified: true,
    });
    expect(b.checkpoint.status()).toMatchObject({ verified: 2, diverged: undefined });
  });

  it("throws a DivergenceError (not a rejection) when the hashes differ, and reports it", () => {
    const [a, b] = [new Node(), new Node()];
    a.put("k", "1", 1);
    b.put("k", "other", 1);
    const seen: DivergenceError[] = [];
    b.checkpoint.onDiverged((error) => seen.push(error));
    const checkpoint = checkpointOf(a, 1);
    expect(() => b.apply(checkpoint, 2)).toThrow(DivergenceError);
    expect(() => b.apply(checkpoint, 2)).toThrow(
      /diverged at slot 1: hash [0-9a-f]{16} != leader's/,
    );
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ slot: 1, checkpointIndex: 2, code: "Diverged" });
    expect(b.checkpoint.status().diverged).toBe(seen[0]);
  });

  it("a rejected outcome counts: a replica that rejected what the others applied diverges", () => {
    const [a, b] = [new Node(), new Node()];
    a.put("k", "1", 1);
    // Same slot, a command b could not decode: b recorded a rejection where a recorded a put.
    b.apply(new Uint8Array([1, 0xff]), 1);
    expect(() => b.apply(checkpointOf(a, 1), 2)).toThrow(DivergenceError);
  });

  it("answers unverifiable for a slot older than its window, the same on every replica", () => {
    const [a, b] = [new Node(4), new Node(4)];
    for (const node of [a, b]) for (let i = 1; i <= 10; i += 1) node.put("k", String(i), i);
    const old = new Node();
    old.put("k", "1", 1);
    const result = b.apply(checkpointOf(old, 1), 11);
    expect(decodeCheckpointResult(unwrapOutcome(result))).toEqual({ verified: false });
    expect(b.checkpoint.status().unverifiable).toBe(1);
    expect(a.checkpoint.checkpointCommand(1)).toBeUndefined();
  });

  it("rejects a checkpoint that names its own slot or a later one", () => {
    const a = new Node();
    a.put("k", "1", 1);
    const outcome = decodeOutcome(a.apply(checkpointOf(a, 1), 1));
    expect(outcome).toMatchObject({ ok: false, code: "BadCommand" });
  });

  it("keeps the hash and window across snapshot and restore", () => {
    const [a, b] = [new Node(), new Node()];
    for (const node of [a, b]) for (let i = 1; i <= 5; i += 1) node.put("k", String(i), i);
    const restored = new Node();
    restored.machine.restore(b.machine.snapshot());
    expect(restored.machine.snapshot()).toEqual(b.machine.snapshot());
    expect(decodeCheckpointResult(unwrapOutcome(restored.apply(checkpointOf(a, 3), 6)))).toEqual({
      verified: true,
    });
    restored.put("k", "6", 7);
    a.apply(checkpointOf(a, 3), 6);
    a.put("k", "6", 7);
    expect(restored.checkpoint.status().hash).toBe(a.checkpoint.status().hash);
  });
});
