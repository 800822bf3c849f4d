import type { ApplyContext, BatchedCommand, StateMachine } from "../consensus/statemachine.js";
import { ByteReader, ByteWriter } from "./bytes.js";
import { encodeOutcome, splitCommand } from "./envelope.js";
import { isReplicationError, ReplicationError } from "./errors.js";
import type { StatePart } from "./part.js";

/** "CSM1": marks a console snapshot; the format version follows it. */
const SNAPSHOT_MAGIC = 0x314d5343;
const SNAPSHOT_VERSION = 1;

/**
 * The console's one replicated state machine: a root that dispatches each committed command to
 * the part named by its first byte (see `PART_TAGS`), and whose snapshot holds every part. The KV
 * store is the first part; the manifest and sessions join as further parts of the same snapshot,
 * so one log position describes the whole console.
 *
 * Results are outcome envelopes (`envelope.ts`): a part's refusal is a rejected outcome, the same
 * on every replica, so a bad command costs a slot and nothing else.
 */
export class ConsoleStateMachine implements StateMachine {
  private readonly parts = new Map<number, StatePart>();
  /** Parts that see every applied command (the checkpoint part's running hash). */
  private readonly observers: StatePart[];
  /** Node-local work a restore started that the next apply must wait for (see `settled`). */
  private settling: Promise<void> | undefined;

  constructor(parts: readonly StatePart[]) {
    for (const part of parts) {
      if (this.parts.has(part.tag)) throw new Error(`two state parts with tag ${part.tag}`);
      this.parts.set(part.tag, part);
    }
    this.observers = parts.filter((part) => part.observeApplied !== undefined);
  }

  /**
   * Applies one command. Synchronous when the part's apply is (the KV part), a promise when the
   * part's is. A `ReplicationError` (thrown or rejected) becomes a rejected outcome; any other
   * error propagates, so the driver halts this replica (see `StatePart`). After a restore, the
   * first apply waits until every part has settled (`StatePart.settle`).
   */
  apply(command: Uint8Array, context: ApplyContext): Uint8Array | Promise<Uint8Array> {
    if (this.settling !== undefined) {
      return this.settling.then(() => this.apply(command, context));
    }
    let result: Uint8Array | Promise<Uint8Array>;
    try {
      const { tag, body } = splitCommand(command);
      const part = this.parts.get(tag);
      if (part === undefined)
        throw new ReplicationError("BadCommand", `unknown command tag ${tag}`);
      result = part.apply(body, context);
    } catch (error) {
      return this.observed(command, rejectedOutcome(error), context);
    }
    if (result instanceof Promise) {
      // One reaction for either outcome: no extra hop (a seeded simulation's schedule counts them).
      return result.then(
        (body) => this.observed(command, okOutcome(body), context),
        (error: unknown) => this.observed(command, rejectedOutcome(error), context),
      );
    }
    return this.observed(command, okOutcome(result), context);
  }

  private observed(command: Uint8Array, outcome: Uint8Array, context: ApplyContext): Uint8Array {
    for (const observer of this.observers) observer.observeApplied?.(command, outcome, context);
    return outcome;
  }

  /**
   * Resolves once the node-local work of the last restore (re-registering builds) is done, so
   * that the registry serves the restored manifest; rejects if that work failed (the replica
   * halts at its next apply).
   */
  settled(): Promise<void> {
    return this.settling ?? Promise.resolve();
  }

  /**
   * Applies the new commands of one slot: runs of consecutive commands of a part that has
   * `applyRun` go to it together (the sessions part overlaps the guest calls of different
   * sessions), every other command goes through `apply`, in order. The results and state are
   * those of `apply` on each command in order (a property test checks it).
   */
  applyBatch(commands: readonly BatchedCommand[]): Uint8Array[] | Promise<Uint8Array[]> {
    if (!commands.some(({ command }) => this.runPartOf(command) !== undefined)) {
      return this.applyEach(commands, 0, []);
    }
    return this.applyRuns(commands);
  }

  private applyEach(
    commands: readonly BatchedCommand[],
    from: number,
    results: Uint8Array[],
  ): Uint8Array[] | Promise<Uint8Array[]> {
    for (let i = from; i < commands.length; i += 1) {
      const { command, context } = commands[i] as BatchedCommand;
      const result = this.apply(command, context);
      if (result instanceof Promise) {
        return result.then((value) => {
          results.push(value);
          return this.applyEach(commands, i + 1, results);
        });
      }
      results.push(result);
    }
    return results;
  }

  private async applyRuns(commands: readonly BatchedCommand[]): Promise<Uint8Array[]> {
    if (this.settling !== undefined) await this.settling;
    const results: Uint8Array[] = [];
    let start = 0;
    while (start < commands.length) {
      const first = commands[start] as BatchedCommand;
      const part = this.runPartOf(first.command);
      if (part?.applyRun === undefined) {
        results.push(await this.apply(first.command, first.context));
        start += 1;
        continue;
      }
      let end = start + 1;
      while (end < commands.length && this.runPartOf(commands[end]?.command) === part) end += 1;
      const run = commands
        .slice(start, end)
        .map(({ command, context }) => ({ body: command.subarray(1), context }));
      const runResults = await part.applyRun(run);
      runResults.forEach((result, i) => {
        const { command, context } = commands[start + i] as BatchedCommand;
        const outcome = result instanceof Uint8Array ? okOutcome(result) : rejectedOutcome(result);
        // Observers (the running hash) see the run's commands in log order, like `apply`'s.
        results.push(this.observed(command, outcome, context));
      });
      start = end;
    }
    return results;
  }

  /** The part a command goes to when that part applies runs of commands. */
  private runPartOf(command: Uint8Array | undefined): StatePart | undefined {
    const part = command === undefined ? undefined : this.parts.get(command[0] ?? 0);
    return part?.applyRun === undefined ? undefined : part;
  }

  /** Every part's snapshot, in tag order (canonical: equal states give equal bytes). */
  snapshot(): Uint8Array {
    const writer = new ByteWriter().u32(SNAPSHOT_MAGIC).u16(SNAPSHOT_VERSION);
    const tags = [...this.parts.keys()].sort((a, b) => a - b);
    writer.u16(tags.length);
    for (const tag of tags) {
      writer.u8(tag).bytes32(this.parts.get(tag)?.snapshot() ?? new Uint8Array());
    }
    return writer.finish();
  }

  /**
   * Replaces every part's state. A part the snapshot does not mention is reset (the snapshot is
   * from before it existed); a part this code does not know fails the restore, because dropping
   * replicated state silently would diverge from the replicas that know it.
   */
  restore(snapshot: Uint8Array): void {
    const reader = new ByteReader(snapshot, "BadSnapshot", "console snapshot");
    if (reader.u32() !== SNAPSHOT_MAGIC) reader.fail("not a console snapshot");
    const version = reader.u16();
    if (version !== SNAPSHOT_VERSION) reader.fail(`unsupported version ${version}`);
    const count = reader.u16();
    const states = new Map<number, Uint8Array>();
    for (let i = 0; i < count; i += 1) {
      const tag = reader.u8();
      if (!this.parts.has(tag)) reader.fail(`unknown part tag ${tag}`);
      if (states.has(tag)) reader.fail(`part tag ${tag} twice`);
      states.set(tag, reader.bytes32(snapshot.length));
    }
    reader.end();
    for (const [tag, part] of this.parts) {
      const state = states.get(tag);
      if (state === undefined) part.reset();
      else part.restore(state);
    }
    const pending = [...this.parts.values()].flatMap((part) => part.settle?.() ?? []);
    if (pending.length === 0) return;
    const settling: Promise<void> = Promise.all(pending).then(() => {
      if (this.settling === settling) this.settling = undefined;
    });
    this.settling = settling;
    // A failure surfaces at the next apply (which halts the replica) or through `settled()`.
    settling.catch(() => undefined);
  }
}

function okOutcome(body: Uint8Array): Uint8Array {
  return encodeOutcome({ ok: true, body });
}

/** A part's refusal as a rejected outcome; anything else is rethrown (the replica halts). */
function rejectedOutcome(error: unknown): Uint8Array {
  if (!isReplicationError(error)) throw error;
  return encodeOutcome({ ok: false, code: error.code, message: error.message });
}
