import { Status } from "./abi.js";
import { CallError, isCartridgeError } from "./errors.js";
import { readInfo, readInfoColumns } from "./info-record.js";
import { CartridgeInstance } from "./instance.js";
import { type LoadedCartridge, loadCartridge } from "./loader.js";
import type { CartridgeManifest } from "./manifest.js";
import { RandomPolicy } from "./random-policy.js";
import type { ReplayCall } from "./trap-report.js";

/** One named check of a validation run. */
export interface ValidationCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  /** Passed, but with something the author should fix (the report marks it with "!"). */
  readonly warning?: boolean;
  /** The cartridge call that trapped, for `cartridge replay` (a failed check whose cause was a trap). */
  readonly call?: ReplayCall;
}

/** Everything `validateCartridge` found out about a module. */
export interface ValidationReport {
  readonly ok: boolean;
  readonly source?: string;
  readonly manifest?: CartridgeManifest;
  readonly buildId?: string;
  readonly checks: ValidationCheck[];
}

/** Seeds used by validation; fixed so that a report is reproducible. */
const SEEDS = [0n, 1n, 12_345n, 0xffff_ffff_ffff_ffffn] as const;
const DEFAULT_ROLLOUT_STEPS = 64;

function describe(error: unknown): string {
  if (isCartridgeError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((v, i) => v === b[i]);
}

/** A failed check's outcome: what went wrong and, for a trap, the call that replays it. */
function failure(error: unknown): { ok: false; detail: string; call?: ReplayCall } {
  const call = error instanceof CallError ? error.trap?.call : undefined;
  return { ok: false, detail: describe(error), ...(call === undefined ? {} : { call }) };
}

/** Runs `body`, turning a thrown error into a failed check. */
function check(name: string, body: () => string): ValidationCheck {
  try {
    return { name, ok: true, detail: body() };
  } catch (error) {
    return { name, ...failure(error) };
  }
}

class CheckFailure extends Error {}

/** Everything one reset leaves in the exchange region: state, observation and info. */
function resetBytes(instance: CartridgeInstance, seed: bigint): Uint8Array {
  instance.reset(seed, new Uint8Array(0));
  const l = instance.single;
  const { sizes } = instance.cartridge;
  return Uint8Array.from([
    ...instance.view(l.stateOut, sizes.stateBytes),
    ...instance.view(l.obs, sizes.obsBytes),
    ...instance.view(l.info, sizes.infoBytes),
  ]);
}

function rolloutBytes(instance: CartridgeInstance, seed: bigint, steps: number): Uint8Array {
  const rows = instance.rollout(seed, steps, true);
  const r = instance.rolloutArrays;
  const { sizes } = instance.cartridge;
  return Uint8Array.from([
    ...instance.view(r.actions, rows * sizes.actionBytes),
    ...instance.view(r.states, rows * sizes.stateBytes),
    ...instance.view(r.obs, rows * sizes.obsBytes),
    ...instance.view(r.infos, rows * sizes.infoBytes),
  ]);
}

function checkDeterminism(cartridge: LoadedCartridge, steps: number): string {
  const a = new CartridgeInstance(cartridge);
  const b = new CartridgeInstance(cartridge);
  // Give the second instance a different history first, so that state a cartridge keeps in its
  // own memory between calls (which breaks stateless replay) shows up as a difference.
  resetBytes(b, 99n);
  rolloutBytes(b, 98n, steps);
  for (const seed of SEEDS) {
    if (!equalBytes(resetBytes(a, seed), resetBytes(b, seed))) {
      throw new CheckFailure(`two instances reset with seed ${seed} gave different bytes`);
    }
    if (!equalBytes(rolloutBytes(a, seed, steps), rolloutBytes(b, seed, steps))) {
      throw new CheckFailure(`two instances' rollouts with seed ${seed} gave different bytes`);
    }
  }
  return `same seed, same bytes on two instances with different histories (${SEEDS.length} seeds, reset and rollout)`;
}

function checkRollout(cartridge: LoadedCartridge, steps: number): string {
  const instance = new CartridgeInstance(cartridge);
  const { manifest } = cartridge;
  let total = 0;
  for (const seed of SEEDS) {
    const rows = instance.rollout(seed, steps, true);
    const info = readInfoColumns(
      instance.memory,
      instance.rolloutArrays.infos,
      rows,
      manifest.players,
    );
    for (let t = 0; t < rows; t++) {
      if (info.statuses[t] !== Status.Ok) {
        throw new CheckFailure(`seed ${seed}, step ${t}: status ${info.statuses[t]}`);
      }
      const ended = (info.flags[t] ?? 0) !== 0;
      if (ended && t !== rows - 1) {
        throw new CheckFailure(`seed ${seed}: the episode ended at step ${t} but went on`);
      }
    }
    if (rows < Math.min(steps, manifest.max_horizon) && (info.flags[rows - 1] ?? 0) === 0) {
      throw new CheckFailure(
        `seed ${seed}: the rollout stopped after ${rows} steps without ending the episode`,
      );
    }
    total += rows;
  }
  return `cartridge_rollout played ${total} steps over ${SEEDS.length} seeds, all OK`;
}

function maskProblem(mask: Uint8Array, expected: number, over: boolean): string | undefined {
  if (mask.byteLength !== expected)
    return `mask has ${mask.byteLength} bytes, expected ${expected}`;
  if (mask.some((v) => v > 1)) return "mask bytes must be 0 or 1";
  if (over && mask.some((v) => v !== 0)) return "a finished episode's mask must be all zeros";
  if (!over && expected > 0 && mask.every((v) => v === 0)) {
    return "a running episode has no legal action";
  }
  return undefined;
}

function checkHostPlay(
  cartridge: LoadedCartridge,
  steps: number,
): { play: ValidationCheck; mask: ValidationCheck } {
  const instance = new CartridgeInstance(cartridge);
  const { manifest, sizes } = cartridge;
  const policy = new RandomPolicy(manifest, 7);
  let masksChecked = 0;
  let maskFailure: string | undefined;
  let episodes = 0;
  const playDetail = (() => {
    try {
      let state = new Uint8Array(0);
      let over = true;
      for (let t = 0; t < steps; t++) {
        if (over) {
          instance.reset(SEEDS[episodes % SEEDS.length] as bigint, new Uint8Array(0));
          state = instance.view(instance.single.stateOut, sizes.stateBytes).slice();
          over = false;
          episodes++;
        }
        instance.write(instance.single.state, state);
        const mask = instance.legalActions(instance.single.state).slice();
        maskFailure ??= maskProblem(mask, sizes.legalMaskBytes, false);
        masksChecked++;
        const action = policy.choose(mask);
        if (action === undefined) throw new CheckFailure(`step ${t}: no legal action to choose`);
        instance.step(state, action);
        state = instance.view(instance.single.stateOut, sizes.stateBytes).slice();
        const info = readInfo(instance.memory, instance.single.info, manifest.players);
        over = info.terminated || info.truncated;
        if (over) {
          instance.write(instance.single.state, state);
          const finalMask = instance.legalActions(instance.single.state).slice();
          maskFailure ??= maskProblem(finalMask, sizes.legalMaskBytes, true);
          masksChecked++;
        }
      }
      return {
        ok: true,
        detail: `${steps} host-driven random legal steps over ${episodes} episodes, all OK`,
      };
    } catch (error) {
      return failure(error);
    }
  })();
  const mask: ValidationCheck =
    sizes.legalMaskBytes === 0
      ? { name: "legal-mask", ok: true, detail: "no mask (box action space)" }
      : maskFailure === undefined
        ? {
            name: "legal-mask",
            ok: true,
            detail: `${masksChecked} masks of ${sizes.legalMaskBytes} bytes consistent with the space`,
          }
        : { name: "legal-mask", ok: false, detail: maskFailure };
  return { play: { name: "host-play", ...playDetail }, mask };
}

/** Steps played before memory is measured (a runtime may grow its heap once, at first use). */
const HEAP_WARMUP_STEPS = 2_000;
/** Steps over which memory must then stay the same size. */
const HEAP_CHECK_STEPS = 20_000;

/**
 * Plays many host-driven steps and in-cartridge rollouts and fails when linear memory keeps
 * growing after a warm-up: a step or rollout that allocates on the heap without freeing passes
 * every short check, then runs out of memory after enough calls (a bare `unreachable` in every
 * rollout and now and then in a Step), so it must not pass build or validate. Growth is what the
 * host can see; an allocation that fits in pages already grown shows only over more calls than
 * this runs.
 */
function checkHeapGrowth(cartridge: LoadedCartridge): ValidationCheck {
  const instance = new CartridgeInstance(cartridge);
  const { manifest, sizes } = cartridge;
  const policy = new RandomPolicy(manifest, 11);
  const pages = () => instance.memory.byteLength / 65_536;
  const initialPages = pages();
  /** Where memory first grew past its initial size, for the failure message. */
  let firstGrowth: string | undefined;
  const noteGrowth = (phase: HeapPhase, call: number) => {
    if (phase.grewAt === undefined && pages() > phase.from) phase.grewAt = call;
    if (firstGrowth === undefined && pages() > initialPages) {
      firstGrowth = `call ${call} of the ${phase.calls} ${phase.what} (${phase.exportName})`;
    }
  };
  let state = new Uint8Array(0);
  let over = true;
  let episodes = 0;
  const play = (phase: HeapPhase) => {
    for (let t = 0; t < phase.calls; t++) {
      if (over) {
        instance.reset(BigInt(episodes++), new Uint8Array(0));
        state = instance.view(instance.single.stateOut, sizes.stateBytes).slice();
      }
      instance.write(instance.single.state, state);
      const action = policy.choose(instance.legalActions(instance.single.state).slice());
      if (action === undefined) throw new CheckFailure(`step ${t}: no legal action to choose`);
      phase.call = t;
      instance.step(state, action);
      state = instance.view(instance.single.stateOut, sizes.stateBytes).slice();
      const info = readInfo(instance.memory, instance.single.info, manifest.players);
      over = info.terminated || info.truncated;
      noteGrowth(phase, t);
    }
  };
  const rolloutSteps = Math.min(DEFAULT_ROLLOUT_STEPS, cartridge.maxRolloutSteps);
  const rollouts = (phase: HeapPhase) => {
    let steps = 0;
    for (let i = 0; steps < phase.calls; i++) {
      phase.call = i;
      steps += Math.max(1, instance.rollout(BigInt(i), rolloutSteps, false));
      noteGrowth(phase, i);
    }
  };
  const phases = {
    warmSteps: heapPhase("cartridge_step", "warm-up host-driven steps", HEAP_WARMUP_STEPS),
    warmRollouts: heapPhase("cartridge_rollout", "warm-up rollout steps", HEAP_WARMUP_STEPS),
    steps: heapPhase("cartridge_step", "host-driven steps", HEAP_CHECK_STEPS),
    rollouts: heapPhase("cartridge_rollout", "rollout steps", HEAP_CHECK_STEPS),
  };
  let running: HeapPhase = phases.warmSteps;
  const measure = (): string => {
    play(phases.warmSteps);
    running = phases.warmRollouts;
    rollouts(phases.warmRollouts);
    const before = pages();
    running = phases.steps;
    phases.steps.from = before;
    play(phases.steps);
    const afterSteps = pages();
    running = phases.rollouts;
    phases.rollouts.from = afterSteps;
    rollouts(phases.rollouts);
    const afterRollouts = pages();
    if (afterSteps > before) {
      const message = `linear memory grew from ${before} to ${afterSteps} pages over ${HEAP_CHECK_STEPS} host-driven steps after ${HEAP_WARMUP_STEPS} of warm-up (first at call ${phases.steps.grewAt} of cartridge_step after the warm-up): cartridge_step allocates on the heap on every call and will run out of memory; ${KEEP_FREE}`;
      throw new HeapGrowth(message);
    }
    if (afterRollouts > afterSteps) {
      throw new HeapGrowth(
        `linear memory grew from ${afterSteps} to ${afterRollouts} pages over about ${HEAP_CHECK_STEPS} in-cartridge rollout steps (first in the cartridge_rollout call of seed ${phases.rollouts.grewAt} after the warm-up): cartridge_rollout (or the step it runs) allocates on the heap and will run out of memory; ${KEEP_FREE}`,
      );
    }
    return `memory stayed at ${before} pages over ${HEAP_CHECK_STEPS} host-driven steps and about ${HEAP_CHECK_STEPS} rollout steps`;
  };
  try {
    return { name: "heap", ok: true, detail: measure() };
  } catch (error) {
    if (error instanceof HeapGrowth || error instanceof CheckFailure) {
      return { name: "heap", ok: false, detail: error.message };
    }
    // A call that fails only after thousands of calls that worked, with memory grown meanwhile,
    // is a heap that ran out (or a grow that ran out of fuel): say which export and which call.
    const grew =
      pages() > initialPages
        ? `; linear memory had grown from ${initialPages} to ${pages()} pages by then (first after ${firstGrowth}): ${running.exportName} allocates on the heap and runs out; ${KEEP_FREE}`
        : "";
    return {
      name: "heap",
      ...failure(error),
      detail: `${running.exportName} failed at call ${running.call} of ${running.calls} ${running.what}: ${describe(error)}${grew}`,
    };
  }
}

const KEEP_FREE = "keep step free of allocation (static buffers, no new arrays or strings)";

/** One stretch of the heap check: which export it calls, how often, and what it saw. */
interface HeapPhase {
  readonly exportName: string;
  readonly what: string;
  readonly calls: number;
  /** Pages at the start of the stretch (infinite while warming up: growth is allowed then). */
  from: number;
  /** Index of the call being made. */
  call: number;
  /** Index of the first call after which memory was larger than `from`. */
  grewAt?: number;
}

function heapPhase(exportName: string, what: string, calls: number): HeapPhase {
  return { exportName, what, calls, from: Number.POSITIVE_INFINITY, call: 0 };
}

/** Memory that keeps growing: the module would run out of memory in production. */
class HeapGrowth extends Error {}

const BATCH_ENVS = 8;

/** `count` packed records of `size` bytes at `address`, one copy each. */
function records(instance: CartridgeInstance, address: number, size: number, count: number) {
  return Array.from({ length: count }, (_, i) => instance.view(address + i * size, size).slice());
}

/**
 * Drives `cartridge_step_batch` over a few envs with random legal actions, resetting each env when
 * its episode ends, and checks every env's state, observation and info against a single step of the
 * same state and action: the batch step must succeed and agree with the single step.
 */
function checkBatchStep(cartridge: LoadedCartridge, rounds: number): string {
  const batched = new CartridgeInstance(cartridge);
  const single = new CartridgeInstance(cartridge);
  const { manifest, sizes } = cartridge;
  const count = Math.min(BATCH_ENVS, cartridge.maxBatch);
  const policy = new RandomPolicy(manifest, 11);
  const b = batched.batch;
  let nextSeed = 0n;
  for (let i = 0; i < count; i++) batched.resetBatchSlot(i, nextSeed++);
  let envSteps = 0;
  for (let t = 0; t < rounds; t++) {
    const states = records(batched, b.states, sizes.stateBytes, count);
    const actions: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      single.write(single.single.state, states[i] as Uint8Array);
      const action = policy.choose(single.legalActions(single.single.state).slice());
      if (action === undefined) {
        throw new CheckFailure(`round ${t}, env ${i}: no legal action to choose`);
      }
      actions.push(action);
      batched.write(b.actions + i * sizes.actionBytes, action);
    }
    try {
      batched.stepBatch(count);
    } catch (error) {
      throw new CheckFailure(
        `cartridge_step_batch of ${count} envs failed at round ${t}: ${describe(error)}`,
      );
    }
    const statesOut = records(batched, b.statesOut, sizes.stateBytes, count);
    const obs = records(batched, b.obs, sizes.obsBytes, count);
    const infos = records(batched, b.infos, sizes.infoBytes, count);
    for (let i = 0; i < count; i++) {
      const info = readInfo(batched.memory, b.infos + i * sizes.infoBytes, manifest.players);
      if (info.status !== Status.Ok) {
        throw new CheckFailure(
          `cartridge_step_batch, round ${t}, env ${i}: status ${info.status} for a legal action`,
        );
      }
      single.step(states[i] as Uint8Array, actions[i] as Uint8Array);
      const l = single.single;
      const differs = [
        ["state", statesOut[i], single.view(l.stateOut, sizes.stateBytes)],
        ["observation", obs[i], single.view(l.obs, sizes.obsBytes)],
        ["info", infos[i], single.view(l.info, sizes.infoBytes)],
      ] as const;
      for (const [what, fromBatch, fromSingle] of differs) {
        if (!equalBytes(fromBatch as Uint8Array, fromSingle)) {
          throw new CheckFailure(
            `cartridge_step_batch, round ${t}, env ${i}: the ${what} differs from cartridge_step on the same state and action`,
          );
        }
      }
      envSteps++;
      batched.write(b.states + i * sizes.stateBytes, statesOut[i] as Uint8Array);
      if (info.terminated || info.truncated) batched.resetBatchSlot(i, nextSeed++);
    }
  }
  return `cartridge_step_batch stepped ${count} envs for ${rounds} rounds (${envSteps} env steps), all OK and equal to single steps`;
}

/**
 * Checks a module the way the host will use it: it loads (imports, exports, memory, manifest),
 * the same seed gives the same bytes on two instances, a seeded rollout inside the cartridge and a
 * host-driven random game run without a trap with every status OK, a batch step agrees with single
 * steps (so every export is called: reset, step, step_batch, rollout, legal_actions), and the
 * legal-action mask is consistent with the action space. Never throws for a bad module: the report says what failed.
 */
export async function validateCartridge(
  bytes: Uint8Array,
  options: { source?: string; rolloutSteps?: number; sourceMap?: string } = {},
): Promise<ValidationReport> {
  const source = options.source;
  let cartridge: LoadedCartridge;
  try {
    cartridge = await loadCartridge(bytes, {
      ...(source === undefined ? {} : { source }),
      ...(options.sourceMap === undefined ? {} : { sourceMap: options.sourceMap }),
    });
  } catch (error) {
    return {
      ok: false,
      ...(source === undefined ? {} : { source }),
      checks: [{ name: "loads", ok: false, detail: describe(error) }],
    };
  }
  const { manifest } = cartridge;
  const steps = Math.max(
    1,
    Math.min(options.rolloutSteps ?? DEFAULT_ROLLOUT_STEPS, cartridge.maxRolloutSteps),
  );
  const checks: ValidationCheck[] = [
    {
      name: "loads",
      ok: true,
      detail: `${manifest.env_id} ${manifest.version}, ${bytes.byteLength} bytes, exchange ${cartridge.exchange.len} bytes (batch <= ${cartridge.maxBatch}, rollout <= ${cartridge.maxRolloutSteps} steps)`,
    },
    check("determinism", () => checkDeterminism(cartridge, steps)),
    check("rollout", () => checkRollout(cartridge, steps)),
    check("batch-step", () => checkBatchStep(cartridge, steps)),
  ];
  const { play, mask } = checkHostPlay(cartridge, steps);
  checks.push(play, mask, checkHeapGrowth(cartridge));
  return {
    ok: checks.every((c) => c.ok),
    source: cartridge.source,
    manifest,
    buildId: cartridge.buildId,
    checks,
  };
}

/** A human-readable report: a summary line, then one line per check with ✓ or ✗. */
export function formatReport(report: ValidationReport): string {
  const what =
    report.manifest === undefined
      ? (report.source ?? "module")
      : `${report.manifest.env_id} ${report.manifest.version}${report.source === undefined ? "" : ` (${report.source})`}`;
  const build = report.buildId === undefined ? "" : `, build ${report.buildId.slice(0, 12)}`;
  const warnings = report.checks.filter((c) => c.warning === true).length;
  const verdict = report.ok
    ? warnings === 0
      ? "valid"
      : `valid, ${warnings} warning${warnings === 1 ? "" : "s"}`
    : "INVALID";
  const lines = [`${report.ok ? "✓" : "✗"} ${what}${build}: ${verdict}`];
  for (const c of report.checks) {
    lines.push(`  ${c.ok ? (c.warning === true ? "!" : "✓") : "✗"} ${c.name}: ${c.detail}`);
  }
  return lines.join("\n");
}
