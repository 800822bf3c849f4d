import { Command } from "commander";
import { CartridgeEngine } from "../runtime/cartridge-engine.js";
import type { Transition } from "../runtime/engine.js";
import { CallError, isCartridgeError } from "../runtime/errors.js";
import { readModuleFile, readSourceMapBeside } from "../runtime/module-file.js";
import { Registry } from "../runtime/registry.js";
import { DEFAULT_LIMITS } from "../runtime/sandbox-options.js";
import {
  bytesForReplay,
  formatTrapReport,
  MAX_REPLAY_CALL_BYTES,
  type ReplayCall,
} from "../runtime/trap-report.js";

/**
 * `cartridge replay FILE reset|step|rollout ...`: runs one cartridge call again, in this process,
 * exactly as the host ran it, and prints what happened; a trap is printed with its full report
 * (frames, and source lines when `FILE.map` from `cartridge build --debug` is beside the module).
 * `cartridge validate` prints this command for a check that trapped.
 */

/** Most actions `--actions` takes (a replayed episode, not a benchmark). */
const MAX_ACTIONS = 100_000;

/** What to run: one of the calls a trap report records, or a reset followed by steps. */
export type ReplayRequest =
  | ReplayCall
  | { readonly op: "episode"; readonly seed: string; readonly actions: readonly string[] };

/** The shell command that replays `call` on `file`. */
export function replayCommandLine(file: string, call: ReplayCall): string {
  const target = /^[\w@%+=:,./-]+$/.test(file) ? file : `'${file.replaceAll("'", "'\\''")}'`;
  switch (call.op) {
    case "reset":
      return `cartridge replay ${target} reset --seed ${call.seed}${call.hint === "" ? "" : ` --hint ${call.hint}`}`;
    case "step":
      return `cartridge replay ${target} step --state ${call.state} --action ${call.action}`;
    case "rollout":
      return `cartridge replay ${target} rollout --seed ${call.seed} --step-cap ${call.stepCap}`;
  }
}

function hexBytes(name: string, hex: string): Uint8Array {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex) || hex.length > 2 * MAX_REPLAY_CALL_BYTES) {
    throw new ReplayUsageError(`${name} must be hex bytes (at most ${MAX_REPLAY_CALL_BYTES})`);
  }
  return new Uint8Array(Buffer.from(hex, "hex"));
}

function seedOf(text: string): bigint {
  if (!/^\d{1,20}$/.test(text)) throw new ReplayUsageError("--seed must be a decimal integer");
  return BigInt(text);
}

/** A command line that does not describe a call. */
export class ReplayUsageError extends Error {
  override readonly name = "ReplayUsageError";
}

function describeTransition(t: Transition): string {
  const flags = [t.terminated ? "terminated" : "", t.truncated ? "truncated" : ""].filter(Boolean);
  return `reward ${t.reward}${flags.length > 0 ? `, ${flags.join(", ")}` : ""}, state ${bytesForReplay(t.state)}`;
}

/** Runs the request and describes what it returned; a failing call throws. */
function run(engine: CartridgeEngine, envId: string, request: ReplayRequest): string {
  const selector = { envId };
  switch (request.op) {
    case "reset":
      return `reset returned: ${describeTransition(engine.reset(selector, seedOf(request.seed), hexBytes("--hint", request.hint)))}`;
    case "step":
      return `step returned: ${describeTransition(
        engine.step(
          selector,
          hexBytes("--state", request.state),
          hexBytes("--action", request.action),
        ),
      )}`;
    case "episode": {
      let t = engine.reset(selector, seedOf(request.seed));
      request.actions.forEach((action, i) => {
        t = engine.step(selector, t.state, hexBytes(`action ${i}`, action));
      });
      return `reset and ${request.actions.length} steps returned: ${describeTransition(t)}`;
    }
    case "rollout": {
      let rows = 0;
      for (const chunk of engine.rollout({
        envId,
        seed: seedOf(request.seed),
        episodes: 1,
        stepCap: request.stepCap,
        includeObs: false,
      })) {
        rows += chunk.rows;
      }
      return `rollout returned: ${rows} steps`;
    }
  }
}

/**
 * Loads `file` (and `file.map` beside it) and runs `request`; never throws for a failing call:
 * the text is the trap report or the error.
 */
export async function replayFile(
  file: string,
  request: ReplayRequest,
): Promise<{ ok: boolean; text: string }> {
  const registry = new Registry();
  const bytes = await readModuleFile(file, DEFAULT_LIMITS.maxModuleBytes);
  const caps = await registry.register(bytes, file, await readSourceMapBeside(file));
  const engine = new CartridgeEngine(registry);
  try {
    return { ok: true, text: run(engine, caps.envId, request) };
  } catch (error) {
    if (error instanceof CallError && error.trap !== undefined) {
      return { ok: false, text: formatTrapReport(error.trap) };
    }
    if (isCartridgeError(error)) return { ok: false, text: `${error.code}: ${error.message}` };
    throw error;
  }
}

interface ReplayFlags {
  seed?: string;
  hint?: string;
  state?: string;
  action?: string;
  actions?: string;
  stepCap?: string;
}

/** The request a command line describes; throws `ReplayUsageError` when it describes none. */
export function requestOf(op: string, flags: ReplayFlags): ReplayRequest {
  const need = (value: string | undefined, name: string): string => {
    if (value === undefined) throw new ReplayUsageError(`${op} needs ${name}`);
    return value;
  };
  switch (op) {
    case "reset":
      return { op, seed: need(flags.seed, "--seed"), hint: flags.hint ?? "" };
    case "step":
      if (flags.actions !== undefined) {
        const actions = flags.actions === "" ? [] : flags.actions.split(",");
        if (actions.length > MAX_ACTIONS) {
          throw new ReplayUsageError(`--actions takes at most ${MAX_ACTIONS} actions`);
        }
        return { op: "episode", seed: need(flags.seed, "--seed (with --actions)"), actions };
      }
      return { op, state: need(flags.state, "--state"), action: need(flags.action, "--action") };
    case "rollout": {
      const stepCap = Number(need(flags.stepCap, "--step-cap"));
      if (!Number.isSafeInteger(stepCap) || stepCap < 1) {
        throw new ReplayUsageError("--step-cap must be a positive integer");
      }
      return { op, seed: need(flags.seed, "--seed"), stepCap };
    }
    default:
      throw new ReplayUsageError(
        `unknown call ${JSON.stringify(op.slice(0, 40))}: reset, step or rollout`,
      );
  }
}

/** `cartridge replay FILE reset|step|rollout [--seed S] [--hint H] [--state S --action A | --actions A,B] [--step-cap N]`. */
export function replayCommand(): Command {
  return new Command("replay")
    .description(
      "Run one cartridge call again in this process and print its outcome or trap report (exit 1 if it fails).",
    )
    .argument("<file>", "the .wasm module (FILE.map beside it adds source lines)")
    .argument("<call>", "reset, step or rollout")
    .option("--seed <n>", "reset and rollout seed (decimal)")
    .option("--hint <hex>", "reset hint bytes")
    .option("--state <hex>", "step: the state bytes")
    .option("--action <hex>", "step: the action bytes")
    .option("--actions <hex,hex,...>", "step: reset with --seed, then step these actions in order")
    .option("--step-cap <n>", "rollout: the episode's step cap")
    .action(async (file: string, op: string, flags: ReplayFlags) => {
      try {
        const { ok, text } = await replayFile(file, requestOf(op, flags));
        console.log(text);
        if (!ok) process.exitCode = 1;
      } catch (error) {
        console.error(
          `cartridge replay: ${error instanceof Error ? error.message : String(error)}`,
        );
        process.exitCode = 1;
      }
    });
}
