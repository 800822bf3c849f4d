import type { ApplyContext } from "../../consensus/statemachine.js";
import type { BuildRef, Engine, Transition } from "../../runtime/engine.js";
import { CallError } from "../../runtime/errors.js";
import { ByteReader, ByteWriter } from "../bytes.js";
import type { SessionReads } from "../console.js";
import { isReplicationError, ReplicationError } from "../errors.js";
import { SESSION_LIMITS } from "../limits.js";
import { PART_TAGS, type PartCommand, type StatePart } from "../part.js";
import {
  compareKeys,
  decodeSessionBody,
  encodeSessionResult,
  isReplicatedFailureCode,
  parseSessionId,
  type SessionCommand,
  type SessionKey,
  sessionIdOf,
  transitionBytes,
} from "./session-commands.js";
import {
  buildKey,
  exportOf,
  readRecord,
  recordBytes,
  type SessionRecord,
  viewOf,
  writeRecord,
} from "./session-record.js";
import {
  episodeOver,
  type SessionEvent,
  type SessionExport,
  type SessionView,
  toSessionTransition,
} from "./session-types.js";
import { StepBatcher } from "./step-batcher.js";

/** The limits the part enforces (SESSION_LIMITS; tests may lower them). */
export type SessionLimits = { readonly [K in keyof typeof SESSION_LIMITS]: number };

/** "SES1": marks a sessions snapshot. */
const SNAPSHOT_MAGIC = 0x31534553;

type StepCommand = Extract<SessionCommand, { op: "step" }>;
type CreateCommand = Extract<SessionCommand, { op: "create" }>;

/**
 * The game sessions of the replicated console (part tag 3). Every replica re-runs each create
 * (the env's reset) and step in its own sandbox through the runtime's `Engine`, on the session's
 * pinned build, with the deterministic fuel budget; so a fuel overrun or a trap is the same
 * recorded outcome everywhere (the session is unchanged). A `Timeout`, a `Cancelled` or any
 * other error is a fault of this node: apply rejects with it and the driver halts the replica.
 *
 * Determinism: the session id comes from the log position of the create ("s<index>.<rank>");
 * idle expiry runs inside apply, oldest activity first, by log position and by the
 * leader-stamped time the commands carry (the part's clock is the largest stamp seen, so it never
 * goes back); a step of an open session counts as activity whatever its outcome.
 *
 * Concurrency: `applyRun` runs the steps of different sessions of one slot concurrently (the
 * guest calls overlap in the worker pool) and those of one session in order, with the results and
 * state of applying them one by one (see `applyRun`).
 *
 * Expiry needs a session command to run: sessions idle while no session command is applied
 * expire at the next one (the same slot on every replica, so the same state).
 */
export class SessionsPart implements StatePart, SessionReads {
  readonly tag = PART_TAGS.sessions;
  readonly name = "sessions";
  private readonly limits: SessionLimits;
  /** Open sessions, least recently active first (the expiry order). */
  private byActivity = new Map<string, SessionRecord>();
  /** Open sessions in creation order (for List). */
  private byCreation = new Map<string, SessionRecord>();
  private owners = new Map<string, number>();
  private pins = new Map<string, number>();
  /** The largest stamp seen (ms since the epoch): the part's notion of time. */
  private clockMs = 0;
  /** `recordBytes` summed over the open sessions (bounded by `maxTotalBytes`). */
  private totalBytes = 0;
  /** The slot of the last create seen and the rank the next create of that slot takes. */
  private ordinalIndex = 0;
  private nextOrdinal = 0;
  private readonly listeners = new Set<(event: SessionEvent) => void>();
  /** Sends the concurrent steps of a run to the runtime together (one worker round trip). */
  private readonly steps: Pick<Engine, "step">;

  /**
   * `options.coalesceSteps` (default true) sends concurrent steps as one `stepEach`; off, each
   * step is its own `runtime.step` (the same outcomes; tests use it to scramble completion
   * order step by step).
   */
  constructor(
    private readonly runtime: Engine,
    limits: Partial<SessionLimits> = {},
    options: { readonly coalesceSteps?: boolean } = {},
  ) {
    this.limits = { ...SESSION_LIMITS, ...limits };
    this.steps = options.coalesceSteps === false ? runtime : new StepBatcher(runtime);
  }

  // ------------------------------------------------------------------ apply

  apply(body: Uint8Array, context: ApplyContext): Uint8Array | Promise<Uint8Array> {
    const command = decodeSessionBody(body);
    this.advance(context.index, command.stampMs);
    if (command.op === "create") return this.create(command, context);
    const record = this.touch(command.sessionId, context.index);
    if (command.op === "step") return this.stepOn(record, command);
    this.remove(record, "closed", context.index);
    return encodeSessionResult({
      op: "close",
      sessionId: record.sessionId,
      finalStep: record.step,
    });
  }

  /**
   * Applies consecutive session commands of one slot, with the same results and state as `apply`
   * on each in order. A step is planned at once, in command order (clock, activity, lookup: what
   * other commands can see), and its checks and guest call queued behind the earlier steps of the
   * same session, so steps of different sessions prepare concurrently; each then commits (the
   * part-wide byte budget, the state change) after the commit of the step before it in the run,
   * so the budget is spent in command order. A create, a close, or a step due to expire a
   * session first waits for every queued step and then applies alone, as a barrier. Rejections
   * come back as `ReplicationError`s in the array; any other failure rejects the whole run (halt).
   */
  async applyRun(commands: readonly PartCommand[]): Promise<(Uint8Array | ReplicationError)[]> {
    const results: (Uint8Array | ReplicationError)[] = new Array(commands.length);
    let pending: Promise<void>[] = [];
    const chains = new Map<SessionRecord, Promise<void>>();
    // Commits (the byte budget, the state change) follow command order; guest calls need not.
    let commitTail: Promise<void> = Promise.resolve();
    for (let i = 0; i < commands.length; i += 1) {
      const item = commands[i];
      if (item === undefined) continue;
      let command: SessionCommand;
      try {
        command = decodeSessionBody(item.body);
      } catch (error) {
        results[i] = asRejection(error);
        continue;
      }
      if (command.op === "step" && !this.expiryDue(item.context.index, command.stampMs)) {
        this.advance(item.context.index, command.stampMs);
        let record: SessionRecord;
        try {
          record = this.touch(command.sessionId, item.context.index);
        } catch (error) {
          results[i] = asRejection(error);
          continue;
        }
        const step = command;
        const prepared = (chains.get(record) ?? Promise.resolve()).then(() =>
          this.prepareStep(record, step),
        );
        const previous = commitTail;
        const next = prepared
          .then(async (outcome) => {
            if (outcome instanceof Uint8Array) return outcome;
            await previous;
            return this.commitStep(record, step, outcome);
          })
          .then(
            (result) => {
              results[i] = result;
            },
            (error: unknown) => {
              results[i] = asRejection(error);
            },
          );
        chains.set(record, next);
        commitTail = next;
        pending.push(next);
        continue;
      }
      if (pending.length > 0) {
        await Promise.all(pending);
        pending = [];
        chains.clear();
        commitTail = Promise.resolve();
      }
      try {
        results[i] = await this.apply(item.body, item.context);
      } catch (error) {
        results[i] = asRejection(error);
      }
    }
    await Promise.all(pending);
    return results;
  }

  private async create(command: CreateCommand, context: ApplyContext): Promise<Uint8Array> {
    const key = this.nextKey(context.index);
    const sessionId = sessionIdOf(key);
    if (this.byActivity.size >= this.limits.maxSessions) {
      throw new ReplicationError(
        "LimitExceeded",
        `${this.byActivity.size} sessions are open; at most ${this.limits.maxSessions} are allowed`,
      );
    }
    const owned = this.owners.get(context.clientId) ?? 0;
    if (owned >= this.limits.maxSessionsPerClient) {
      throw new ReplicationError(
        "LimitExceeded",
        `this client owns ${owned} open sessions; at most ${this.limits.maxSessionsPerClient} are allowed`,
      );
    }
    const selector = { envId: command.envId, buildId: command.buildId || undefined };
    const transition = await guest(() => this.runtime.reset(selector, command.seed, command.hint));
    if (!("state" in transition)) {
      return encodeSessionResult({ op: "failed", sessionId: "", failure: transition });
    }
    const record: SessionRecord = {
      sessionId,
      envId: command.envId,
      buildId: transition.build.buildId,
      seed: command.seed,
      hint: command.hint.slice(),
      owner: context.clientId,
      createdIndex: key.index,
      createdOrdinal: key.ordinal,
      step: 0,
      state: transition.state,
      last: toSessionTransition(transition, 0, new Uint8Array()),
      actions: [],
      actionBytes: 0,
      lastActiveIndex: context.index,
      lastActiveMs: this.clockMs,
    };
    this.checkTotal(this.totalBytes + recordBytes(record));
    this.insert(record);
    this.emit({ kind: "transition", sessionId, index: context.index, transition: record.last });
    return encodeSessionResult({ op: "create", session: viewOf(record) });
  }

  /** A step applied alone: its checks and guest call, then its commit. */
  private async stepOn(record: SessionRecord, command: StepCommand): Promise<Uint8Array> {
    const prepared = await this.prepareStep(record, command);
    return prepared instanceof Uint8Array ? prepared : this.commitStep(record, command, prepared);
  }

  /**
   * What a step decides from its own session alone: stale, over, per-session limits, then the
   * guest call. Gives the final result (stale, a recorded guest failure) or the transition to
   * commit; reads and changes nothing of other sessions, so steps of different sessions may
   * prepare concurrently.
   */
  private async prepareStep(
    record: SessionRecord,
    command: StepCommand,
  ): Promise<Uint8Array | Transition> {
    const sessionId = record.sessionId;
    if (command.expectedStep !== record.step) {
      return encodeSessionResult({ op: "stale", sessionId, currentStep: record.step });
    }
    if (episodeOver(record)) {
      throw new ReplicationError("EpisodeOver", `the episode of session ${sessionId} is over`);
    }
    if (record.step >= this.limits.maxStepsPerSession) {
      throw new ReplicationError(
        "LimitExceeded",
        `session ${sessionId} took ${record.step} steps; at most ${this.limits.maxStepsPerSession} are allowed`,
      );
    }
    if (record.actionBytes + command.action.length > this.limits.maxActionBytesPerSession) {
      throw new ReplicationError(
        "LimitExceeded",
        `session ${sessionId} would hold ${record.actionBytes + command.action.length} action bytes; at most ${this.limits.maxActionBytesPerSession} are allowed`,
      );
    }
    const selector = { envId: record.envId, buildId: record.buildId };
    const transition = await guest(() => this.steps.step(selector, record.state, command.action));
    if (!("state" in transition)) {
      return encodeSessionResult({ op: "failed", sessionId, failure: transition });
    }
    return transition;
  }

  /**
   * Checks the part-wide byte budget and changes the session. It reads the part's total, so the
   * commits of one slot run in command order (see `applyRun`).
   */
  private commitStep(
    record: SessionRecord,
    command: StepCommand,
    transition: Transition,
  ): Uint8Array {
    const sessionId = record.sessionId;
    if (this.byActivity.get(sessionId) !== record) {
      // Nothing removes a session while one of its steps runs (removal is a barrier).
      throw new Error(`session ${sessionId} was removed during its step`);
    }
    const action = command.action.slice();
    const last = toSessionTransition(transition, record.step + 1, action);
    const before = recordBytes(record);
    const after =
      before -
      record.state.length -
      transitionBytes(record.last) +
      transition.state.length +
      transitionBytes(last) +
      action.length;
    this.checkTotal(this.totalBytes - before + after);
    record.step += 1;
    record.state = transition.state;
    record.last = last;
    record.actions.push(action);
    record.actionBytes += action.length;
    this.totalBytes += after - before;
    this.emit({
      kind: "transition",
      sessionId,
      index: record.lastActiveIndex,
      transition: record.last,
    });
    return encodeSessionResult({ op: "step", sessionId, transition: record.last });
  }

  private checkTotal(total: number): void {
    if (total > this.limits.maxTotalBytes) {
      throw new ReplicationError(
        "LimitExceeded",
        `the sessions would hold ${total} bytes; at most ${this.limits.maxTotalBytes} are allowed`,
      );
    }
  }

  /** Moves the clock to the command's stamp (never back) and expires idle sessions. */
  private advance(index: number, stampMs: number): void {
    this.clockMs = Math.max(this.clockMs, stampMs);
    for (const record of this.byActivity.values()) {
      if (!this.idle(record, index, this.clockMs)) break;
      this.remove(record, "expired", index);
    }
  }

  /** Whether `advance(index, stampMs)` would expire a session. */
  private expiryDue(index: number, stampMs: number): boolean {
    const oldest = this.byActivity.values().next().value;
    return oldest !== undefined && this.idle(oldest, index, Math.max(this.clockMs, stampMs));
  }

  private idle(record: SessionRecord, index: number, clockMs: number): boolean {
    return (
      index - record.lastActiveIndex >= this.limits.idleExpirySlots ||
      clockMs - record.lastActiveMs >= this.limits.idleExpiryMs
    );
  }

  /** The open session named, now the most recently active; `NotFound` if none. */
  private touch(sessionId: string, index: number): SessionRecord {
    parseSessionId(sessionId);
    const record = this.byActivity.get(sessionId);
    if (record === undefined) {
      throw new ReplicationError("NotFound", `no open session ${sessionId}`);
    }
    this.byActivity.delete(sessionId);
    this.byActivity.set(sessionId, record);
    record.lastActiveIndex = index;
    record.lastActiveMs = this.clockMs;
    return record;
  }

  private nextKey(index: number): SessionKey {
    if (index !== this.ordinalIndex) {
      this.ordinalIndex = index;
      this.nextOrdinal = 0;
    }
    const key = { index, ordinal: this.nextOrdinal };
    this.nextOrdinal += 1;
    return key;
  }

  private insert(record: SessionRecord): void {
    this.totalBytes += recordBytes(record);
    this.byActivity.set(record.sessionId, record);
    this.byCreation.set(record.sessionId, record);
    this.owners.set(record.owner, (this.owners.get(record.owner) ?? 0) + 1);
    const pin = buildKey(record.envId, record.buildId);
    this.pins.set(pin, (this.pins.get(pin) ?? 0) + 1);
  }

  private remove(record: SessionRecord, reason: "closed" | "expired", index: number): void {
    this.totalBytes -= recordBytes(record);
    this.byActivity.delete(record.sessionId);
    this.byCreation.delete(record.sessionId);
    decrement(this.owners, record.owner);
    decrement(this.pins, buildKey(record.envId, record.buildId));
    this.emit({ kind: "closed", sessionId: record.sessionId, index, reason });
  }

  private emit(event: SessionEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  // ------------------------------------------------------------------ reads

  get(sessionId: string): SessionView | undefined {
    const record = this.byActivity.get(sessionId);
    return record === undefined ? undefined : viewOf(record);
  }

  list(owner: string | undefined, after: SessionKey | undefined, limit: number): SessionView[] {
    const out: SessionView[] = [];
    for (const record of this.byCreation.values()) {
      if (out.length >= limit) break;
      if (owner !== undefined && record.owner !== owner) continue;
      if (after !== undefined && compareKeys(keyOf(record), after) <= 0) continue;
      out.push(viewOf(record));
    }
    return out;
  }

  exportOf(sessionId: string): SessionExport | undefined {
    const record = this.byActivity.get(sessionId);
    return record === undefined ? undefined : exportOf(record);
  }

  subscribe(listener: (event: SessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The number of open sessions. */
  size(): number {
    return this.byActivity.size;
  }

  /** Whether an open session pins this build (the manifest must not retire it). */
  isPinned(envId: string, buildId: string): boolean {
    return this.pins.has(buildKey(envId, buildId));
  }

  /** Every build an open session pins, sorted by env id then build id. */
  pinnedBuilds(): BuildRef[] {
    const builds: BuildRef[] = [];
    for (const key of this.pins.keys()) {
      const [envId = "", buildId = ""] = key.split("\u0000");
      builds.push({ envId, buildId });
    }
    return builds.sort((a, b) =>
      a.envId === b.envId ? compareStrings(a.buildId, b.buildId) : compareStrings(a.envId, b.envId),
    );
  }

  // ------------------------------------------------------------------ snapshot

  /** Clock, then the sessions in activity order (the expiry order is part of the state). */
  snapshot(): Uint8Array {
    const writer = new ByteWriter().u32(SNAPSHOT_MAGIC).u64(this.clockMs).u32(this.byActivity.size);
    for (const record of this.byActivity.values()) writeRecord(writer, record);
    return writer.finish();
  }

  restore(bytes: Uint8Array): void {
    const reader = new ByteReader(bytes, "BadSnapshot", "sessions snapshot");
    if (reader.u32() !== SNAPSHOT_MAGIC) reader.fail("not a sessions snapshot");
    const clockMs = reader.u64();
    const count = reader.u32();
    if (count > this.limits.maxSessions) reader.fail(`${count} sessions`);
    const records: SessionRecord[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < count; i += 1) {
      const record = readRecord(reader);
      if (seen.has(record.sessionId)) reader.fail(`session ${record.sessionId} twice`);
      seen.add(record.sessionId);
      const previous = records[records.length - 1];
      if (previous !== undefined && previous.lastActiveIndex > record.lastActiveIndex) {
        reader.fail("sessions out of activity order");
      }
      records.push(record);
    }
    reader.end();
    this.clear();
    this.clockMs = clockMs;
    for (const record of records) this.insert(record);
    this.emit({ kind: "restored" });
    this.byCreation = new Map(
      [...this.byCreation.values()]
        .sort((a, b) => compareKeys(keyOf(a), keyOf(b)))
        .map((record) => [record.sessionId, record]),
    );
  }

  reset(): void {
    this.clear();
    this.emit({ kind: "restored" });
  }

  private clear(): void {
    this.byActivity = new Map();
    this.byCreation = new Map();
    this.owners = new Map();
    this.pins = new Map();
    this.clockMs = 0;
    this.totalBytes = 0;
    this.ordinalIndex = 0;
    this.nextOrdinal = 0;
  }
}

/** A guest call's transition, or its deterministic failure; any other error propagates (halt). */
async function guest(call: () => Promise<Transition>): Promise<Transition | GuestFailureOf> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof CallError && isReplicatedFailureCode(error.code)) {
      return { code: error.code, message: error.message };
    }
    throw error;
  }
}

type GuestFailureOf = { readonly code: CallError["code"]; readonly message: string };

function asRejection(error: unknown): ReplicationError {
  if (isReplicationError(error)) return error;
  throw error;
}

function keyOf(record: SessionRecord): SessionKey {
  return { index: record.createdIndex, ordinal: record.createdOrdinal };
}

function decrement(counts: Map<string, number>, key: string): void {
  const count = (counts.get(key) ?? 0) - 1;
  if (count > 0) counts.set(key, count);
  else counts.delete(key);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
