import { type CodeMap, originalOffset } from "./code-map.js";
import { boundForMessage, CallError, quoteForMessage } from "./errors.js";
import { type SourceLocation, SourceMap } from "./source-map.js";

/**
 * What the host knows about a cartridge trap, so that its author can act on it: where in the
 * module it happened (wasm function index, byte offset and, when the module has a name section,
 * the function's name), which env and build, the seed and episode (rollouts) or the request's
 * row (batches), and how to reproduce it. Everything in it is bounded: it travels in error
 * messages and across the worker boundary.
 */
export interface TrapReport {
  readonly envId: string;
  readonly buildId: string;
  /** The export the host called ("cartridge_step"). */
  readonly export: string;
  /** V8's reason ("unreachable", "memory access out of bounds"). */
  readonly reason: string;
  /** Wasm frames, innermost first, at most `MAX_TRAP_FRAMES`. */
  readonly frames: readonly TrapFrame[];
  /** Seed of the episode that trapped (rollouts, resets), as a decimal string. */
  readonly seed?: string;
  /** Episode index in the request (rollouts). */
  readonly episode?: number;
  /**
   * Index of the step that trapped within its episode (rollouts), 0-based; 0 also covers the
   * episode's reset. Found by re-running the episode with shorter step caps (rollout-trap-step.ts).
   */
  readonly step?: number;
  /** Row of the request (batch steps): the env index. */
  readonly row?: number;
  /** The request that reproduces the trap. */
  readonly replay?: string;
  /** The exact cartridge call that trapped, for `cartridge replay`; absent when its input is too large. */
  readonly call?: ReplayCall;
}

/**
 * One call into a cartridge, with its inputs as hex: what `cartridge replay` runs again. Seeds are
 * decimal strings (they do not fit a double).
 */
export type ReplayCall =
  | { readonly op: "reset"; readonly seed: string; readonly hint: string }
  | { readonly op: "step"; readonly state: string; readonly action: string }
  | { readonly op: "rollout"; readonly seed: string; readonly stepCap: number };

/** Most input bytes a `ReplayCall` carries (as hex); a call with more has none. */
export const MAX_REPLAY_CALL_BYTES = 4096;

/** `bytes` as hex for a `ReplayCall`, or undefined past `MAX_REPLAY_CALL_BYTES`. */
export function replayHex(bytes: Uint8Array): string | undefined {
  if (bytes.byteLength > MAX_REPLAY_CALL_BYTES) return undefined;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** The step call of `state` and `action`, when both are small enough to carry. */
export function stepCall(state: Uint8Array, action: Uint8Array): ReplayCall | undefined {
  const s = replayHex(state);
  const a = replayHex(action);
  return s === undefined || a === undefined ? undefined : { op: "step", state: s, action: a };
}

/** One wasm frame of a trap. */
export interface TrapFrame {
  readonly functionIndex: number;
  /**
   * Byte offset in the module as the host runs it (after fuel metering rewrote the code section),
   * so it locates the instruction in the metered module, not in the original file.
   */
  readonly offset: number;
  /** The function's name from the module's name section, when it has one. */
  readonly name?: string;
  /**
   * The same instruction's byte offset in the module the author built (before metering), as in a
   * stack trace of that module or `wasm-objdump -d`; absent when the code map does not cover it.
   */
  readonly originalOffset?: number;
  /** The source line of that instruction, when the build came with a source map. */
  readonly source?: SourceLocation;
}

/** What `locateFrames` needs of a build (`CartridgeDebug` of loader.ts). */
export interface FrameLocator {
  readonly codeMap: CodeMap;
  readonly sourceMap?: string;
}

/** Most frames kept in a report. */
export const MAX_TRAP_FRAMES = 4;
/** Most characters of a function name kept. */
const MAX_NAME_CHARS = 80;
/** Most bytes of input shown in a replay hint, as hex; longer inputs are described, not shown. */
const MAX_REPLAY_BYTES = 64;

// "at name (wasm://wasm/8a7b:wasm-function[11]:0x398)" or "at wasm://wasm/8a7b:wasm-function[14]:0x6e1"
const WASM_FRAME = /at (?:(\S+) \()?wasm:\/\/wasm\/[^:]*:wasm-function\[(\d+)\]:0x([0-9a-f]+)/;

/**
 * A function name without the file paths AssemblyScript's debug names carry ("../../tmp/x/
 * assembly/game/Countdown#step" is "Countdown#step", also inside type arguments): the source map
 * says where the function is, and the path would crowd the name out of its bound.
 */
function shortFunctionName(name: string): string {
  return name.replace(/(?:[^\s<>,#/]*\/)+/g, "");
}

/** The wasm frames of a V8 error's stack, innermost first. */
export function wasmFrames(error: unknown): TrapFrame[] {
  const stack = error instanceof Error && typeof error.stack === "string" ? error.stack : "";
  const frames: TrapFrame[] = [];
  for (const line of stack.split("\n")) {
    if (frames.length >= MAX_TRAP_FRAMES) break;
    const match = WASM_FRAME.exec(line);
    if (match === null) continue;
    const name = match[1] === undefined ? undefined : shortFunctionName(match[1]);
    frames.push({
      functionIndex: Number(match[2]),
      offset: Number.parseInt(match[3] ?? "0", 16),
      ...(name === undefined ? {} : { name: boundForMessage(name, MAX_NAME_CHARS) }),
    });
  }
  return frames;
}

/** Parsed source maps by the build they belong to, decoded at a build's first trap. */
const parsedMaps = new WeakMap<FrameLocator, SourceMap | null>();

function sourceMapOf(locator: FrameLocator): SourceMap | undefined {
  if (locator.sourceMap === undefined) return undefined;
  let map = parsedMaps.get(locator);
  if (map === undefined) {
    try {
      map = SourceMap.parse(locator.sourceMap);
    } catch {
      // A broken map only costs the source lines; the loader already checked it once.
      map = null;
    }
    parsedMaps.set(locator, map);
  }
  return map ?? undefined;
}

/** `frames` with their original offsets and, given a source map, their source lines. */
export function locateFrames(frames: readonly TrapFrame[], locator: FrameLocator): TrapFrame[] {
  return frames.map((frame) => {
    const original = originalOffset(locator.codeMap, frame.functionIndex, frame.offset);
    if (original === undefined) return frame;
    let source: SourceLocation | undefined;
    try {
      source = sourceMapOf(locator)?.lookup(original);
    } catch {
      source = undefined;
    }
    return { ...frame, originalOffset: original, ...(source === undefined ? {} : { source }) };
  });
}

/**
 * One frame: "Game#step at assembly/game.ts:42:7 (wasm-function[109]:0xf22)" with a source line
 * (the offset in the author's module), else "step (function 11, offset 0x398)" (the offset in
 * the metered module, with the author's offset after it when known).
 */
function describeFrame(f: TrapFrame): string {
  if (f.source !== undefined && f.originalOffset !== undefined) {
    const where = `${f.source.file}:${f.source.line}:${f.source.column}`;
    const at = `wasm-function[${f.functionIndex}]:0x${f.originalOffset.toString(16)}`;
    return `${f.name ?? `function ${f.functionIndex}`} at ${where} (${at})`;
  }
  const original =
    f.originalOffset === undefined ? "" : `, original 0x${f.originalOffset.toString(16)}`;
  const at = `function ${f.functionIndex}, offset 0x${f.offset.toString(16)}${original}`;
  return f.name === undefined ? `(${at})` : `${f.name} (${at})`;
}

/** "step (function 11, offset 0x398, original 0x2f1) < (function 14, offset 0x6e1)" */
export function describeFrames(frames: readonly TrapFrame[]): string {
  return frames.map(describeFrame).join(" < ");
}

/** Hex of `bytes`, or a description of their size when they are too long for a message. */
export function bytesForReplay(bytes: Uint8Array): string {
  if (bytes.byteLength > MAX_REPLAY_BYTES) return `<${bytes.byteLength} bytes>`;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** The one-line message of a trap with its report. */
export function trapMessage(report: TrapReport): string {
  const where = report.frames.length > 0 ? ` in ${describeFrames(report.frames)}` : "";
  const context = [
    `env ${quoteForMessage(report.envId)}`,
    `build ${report.buildId.slice(0, 12)}`,
    ...(report.seed === undefined ? [] : [`seed ${report.seed}`]),
    ...(report.episode === undefined ? [] : [`episode ${report.episode}`]),
    ...(report.step === undefined ? [] : [`step ${report.step}`]),
    ...(report.row === undefined ? [] : [`row ${report.row}`]),
  ].join(", ");
  const replay = report.replay === undefined ? "" : `; replay: ${report.replay}`;
  return boundForMessage(
    `${report.export} trapped: ${report.reason}${where} [${context}]${replay}`,
  );
}

/** A `Trap` error carrying its report. */
export function trapError(report: TrapReport, cause?: unknown): CallError {
  return new CallError("Trap", trapMessage(report), report.envId, { cause, trap: report });
}

/**
 * `error` with more context in its trap report (seed, episode, row, replay), or `error` itself
 * when it is not a trap with a report.
 */
export function withTrapContext(
  error: unknown,
  context: Pick<TrapReport, "seed" | "episode" | "step" | "row" | "replay" | "call">,
): unknown {
  if (!(error instanceof CallError) || error.trap === undefined) return error;
  return trapError({ ...error.trap, ...context }, error.cause);
}

/**
 * `error` with its batch row moved by `first`: a chunk of a request names its rows from 0, the
 * request from the chunk's first row.
 */
export function offsetTrapRow(error: unknown, first: number): unknown {
  if (!(error instanceof CallError) || error.trap?.row === undefined || first === 0) return error;
  return trapError({ ...error.trap, row: error.trap.row + first }, error.cause);
}

/**
 * The report for a person reading a terminal: the message's first part, then one line per frame
 * and per piece of context. Every line is bounded.
 */
export function formatTrapReport(report: TrapReport): string {
  const lines = [`${report.export} trapped: ${report.reason}`];
  for (const frame of report.frames) lines.push(`  in ${describeFrames([frame])}`);
  lines.push(`  env ${quoteForMessage(report.envId)}, build ${report.buildId}`);
  if (report.seed !== undefined) lines.push(`  seed ${report.seed}`);
  if (report.episode !== undefined) lines.push(`  episode ${report.episode}`);
  if (report.step !== undefined) lines.push(`  step ${report.step} of the episode`);
  if (report.row !== undefined) lines.push(`  row ${report.row} of the request`);
  if (report.replay !== undefined) lines.push(`  replay: ${report.replay}`);
  return lines.map((line) => boundForMessage(line)).join("\n");
}

/** A trap error whose frames carry their original offsets and source lines (`locateFrames`). */
export function withLocatedFrames(error: CallError, locator: FrameLocator): CallError {
  if (error.trap === undefined || error.trap.frames.length === 0) return error;
  return trapError(
    { ...error.trap, frames: locateFrames(error.trap.frames, locator) },
    error.cause,
  );
}
