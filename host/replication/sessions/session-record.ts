import type { ByteReader, ByteWriter } from "../bytes.js";
import { SESSION_LIMITS } from "../limits.js";
import {
  parseSessionId,
  readSessionView,
  transitionBytes,
  writeSessionView,
} from "./session-commands.js";
import type { SessionExport, SessionTransition, SessionView } from "./session-types.js";

/**
 * One open session as the part holds it (mutable; never handed out: reads get copies). The
 * fields mirror {@link SessionView}, plus the action list for export.
 */
export interface SessionRecord extends Omit<SessionView, ChangingFields> {
  readonly createdOrdinal: number;
  step: number;
  state: Uint8Array;
  last: SessionTransition;
  readonly actions: Uint8Array[];
  actionBytes: number;
  lastActiveIndex: number;
  lastActiveMs: number;
}

/** The fields of a view that a step changes in the record. */
type ChangingFields = "step" | "state" | "last" | "lastActiveIndex" | "lastActiveMs";

/** The bytes a session holds, as the part's byte budget counts them. */
export function recordBytes(record: SessionRecord): number {
  return (
    record.state.length + record.hint.length + record.actionBytes + transitionBytes(record.last)
  );
}

/** The key of an env's build in the pin counts. */
export function buildKey(envId: string, buildId: string): string {
  return `${envId}\u0000${buildId}`;
}

export function copyTransition(transition: SessionTransition): SessionTransition {
  return {
    step: transition.step,
    action: transition.action.slice(),
    obs: transition.obs.slice(),
    reward: transition.reward,
    terminated: transition.terminated,
    truncated: transition.truncated,
    currentPlayer: transition.currentPlayer,
    playerRewards: transition.playerRewards.slice(),
    legalMask: transition.legalMask.slice(),
  };
}

/** A copy of the record as the facade and the results show it. */
export function viewOf(record: SessionRecord): SessionView {
  return {
    sessionId: record.sessionId,
    envId: record.envId,
    buildId: record.buildId,
    seed: record.seed,
    hint: record.hint.slice(),
    owner: record.owner,
    step: record.step,
    state: record.state.slice(),
    last: copyTransition(record.last),
    createdIndex: record.createdIndex,
    lastActiveIndex: record.lastActiveIndex,
    lastActiveMs: record.lastActiveMs,
  };
}

export function exportOf(record: SessionRecord): SessionExport {
  return {
    sessionId: record.sessionId,
    envId: record.envId,
    buildId: record.buildId,
    seed: record.seed,
    hint: record.hint.slice(),
    actions: record.actions.map((action) => action.slice()),
  };
}

/** A record in a snapshot: its view, then its actions. */
export function writeRecord(writer: ByteWriter, record: SessionRecord): void {
  writeSessionView(writer, record);
  writer.u32(record.actions.length);
  for (const action of record.actions) writer.bytes32(action);
}

export function readRecord(reader: ByteReader): SessionRecord {
  const view = readSessionView(reader);
  const count = reader.u32();
  if (count !== view.step) reader.fail(`${count} actions for step ${view.step}`);
  const actions: Uint8Array[] = [];
  let actionBytes = 0;
  for (let i = 0; i < count; i += 1) {
    const action = reader.bytes32(SESSION_LIMITS.maxActionBytes);
    actions.push(action);
    actionBytes += action.length;
  }
  const last = view.last;
  if (view.step > 0 && !sameBytes(last.action, actions[actions.length - 1])) {
    reader.fail("last transition's action is not the last action");
  }
  return {
    ...view,
    createdOrdinal: parseSessionId(view.sessionId).ordinal,
    actions,
    actionBytes,
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array | undefined): boolean {
  return b !== undefined && a.length === b.length && a.every((byte, i) => byte === b[i]);
}
