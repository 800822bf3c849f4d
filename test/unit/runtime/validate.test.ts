import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { formatReport, validateCartridge } from "../../../host/runtime/validate.js";
import {
  actionIs,
  addTopLevel,
  counterVariant,
  edits,
  replaceOnce,
  withStepBody,
} from "../../fixtures/counter-variants.js";

function check(report: Awaited<ReturnType<typeof validateCartridge>>, name: string) {
  const found = report.checks.find((c) => c.name === name);
  if (found === undefined) throw new Error(`no check named ${name}`);
  return found;
}

describe("validateCartridge", () => {
  it("fails a step that grows memory on every call, naming the export and the first call that grew it", async () => {
    // A bump allocator that never frees: a page more every 500 steps, up to 200 pages.
    const growing = await counterVariant(
      edits(
        (wat) =>
          replaceOnce(wat, '(memory (export "memory") 1 2)', '(memory (export "memory") 1 200)'),
        addTopLevel("(global $calls (mut i32) (i32.const 0))"),
        withStepBody(
          "(global.set $calls (i32.add (global.get $calls) (i32.const 1))) (if (i32.eqz (i32.rem_u (global.get $calls) (i32.const 500))) (then (drop (memory.grow (i32.const 1)))))",
        ),
      ),
    );
    const report = await validateCartridge(growing, { source: "grow.wasm" });
    expect(report.ok).toBe(false);
    const heap = check(report, "heap");
    expect(heap.ok).toBe(false);
    expect(heap.detail).toContain("cartridge_step allocates");
    // The 2,000 warm-up steps leave the counter at 2,000: the next page comes at call 500.
    expect(heap.detail).toContain("first at call 499 of cartridge_step after the warm-up");
    const text = formatReport(report);
    expect(text.split("\n")[0]).toMatch(/INVALID$/);
    expect(text).toContain("  ✗ heap: linear memory grew");
  });

  it("passes the counter cartridge with every check and formats a readable report", async () => {
    const report = await validateCartridge(await counterVariant(), { source: "counter.wasm" });
    expect(report.ok).toBe(true);
    expect(report.manifest?.env_id).toBe("counter-v1");
    expect(report.buildId).toMatch(/^[0-9a-f]{64}$/);
    expect(report.checks.map((c) => c.name)).toEqual([
      "loads",
      "determinism",
      "rollout",
      "batch-step",
      "host-play",
      "legal-mask",
      "heap",
    ]);
    expect(check(report, "heap").warning).toBeUndefined();
    const text = formatReport(report);
    expect(text.split("\n")[0]).toMatch(
      /^✓ counter-v1 1\.0\.0 \(counter\.wasm\), build [0-9a-f]{12}: valid$/,
    );
    expect(
      text
        .split("\n")
        .slice(1)
        .every((line) => line.startsWith("  ✓ ")),
    ).toBe(true);
  });

  it("reports a module that does not load, with the error code", async () => {
    const bytes = await counterVariant((w) => replaceOnce(w, '(export "cartridge_rollout")', ""));
    const report = await validateCartridge(bytes, { source: "broken.wasm" });
    expect(report.ok).toBe(false);
    expect(report.checks).toEqual([
      { name: "loads", ok: false, detail: expect.stringContaining("MissingExport") },
    ]);
    expect(formatReport(report)).toMatch(/^✗ broken\.wasm: INVALID\n {2}✗ loads: MissingExport/);
  });

  it("catches a cartridge that keeps hidden state between calls", async () => {
    // Each reset adds a call counter kept in a global to the initial value.
    const bytes = await counterVariant(
      edits(addTopLevel("(global $calls (mut i32) (i32.const 0))"), (w) =>
        replaceOnce(
          w,
          "(i32.store (local.get $state) (local.get $value))",
          `(global.set $calls (i32.add (global.get $calls) (i32.const 1)))
             (i32.store (local.get $state) (i32.and (i32.add (local.get $value) (global.get $calls)) (i32.const 7)))`,
        ),
      ),
    );
    const report = await validateCartridge(bytes);
    expect(report.ok).toBe(false);
    expect(check(report, "determinism")).toMatchObject({ ok: false });
    expect(check(report, "determinism").detail).toContain("different bytes");
  });

  it("catches a step that rejects a legal action, and a rollout that fails", async () => {
    const bytes = await counterVariant(
      withStepBody(
        `(if (i32.and ${actionIs(0)} (i32.eq (i32.load (local.get $s_in)) (i32.const 3))) (then (return (i32.const 1))))`,
      ),
    );
    const report = await validateCartridge(bytes, { rolloutSteps: 200 });
    expect(check(report, "host-play")).toMatchObject({ ok: false });
    expect(check(report, "host-play").detail).toContain("IllegalAction");
    expect(check(report, "rollout").ok).toBe(false);
    expect(formatReport(report)).toContain("✗ host-play: IllegalAction");
  });

  it("catches a batch step that always traps, and says where", async () => {
    const bytes = await counterVariant((w) =>
      replaceOnce(
        w,
        "(if (i32.eqz (local.get $count)) (then (return (i32.const 6))))",
        "(unreachable)",
      ),
    );
    const report = await validateCartridge(bytes);
    expect(report.ok).toBe(false);
    expect(check(report, "batch-step")).toMatchObject({ ok: false });
    expect(check(report, "batch-step").detail).toMatch(
      /^cartridge_step_batch of \d+ envs failed at round 0: Trap: .*unreachable/,
    );
    // Everything the batch step does not use still passes: only the batch check names the fault.
    expect(report.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(["batch-step"]);
  });

  it("catches a batch step that disagrees with the single step", async () => {
    // The batch step writes a reward of 1 into every env's info; the single step does not.
    const bytes = await counterVariant((w) =>
      replaceOnce(
        w,
        "(local.set $i (i32.add (local.get $i) (i32.const 1)))",
        `(f32.store (i32.add (local.get $info) (i32.mul (local.get $i) (i32.const 12))) (f32.const 1))
         (local.set $i (i32.add (local.get $i) (i32.const 1)))`,
      ),
    );
    const report = await validateCartridge(bytes);
    expect(check(report, "batch-step")).toMatchObject({ ok: false });
    expect(check(report, "batch-step").detail).toContain("the info differs from cartridge_step");
  });

  it("catches a legal-action mask that is inconsistent with the episode", async () => {
    // The mask claims action 1 is legal even once the episode is over.
    const bytes = await counterVariant((w) =>
      replaceOnce(
        w,
        "(i32.store8 offset=1 (local.get $mask) (local.get $open))",
        "(i32.store8 offset=1 (local.get $mask) (i32.const 1))",
      ),
    );
    const report = await validateCartridge(bytes);
    expect(check(report, "legal-mask")).toMatchObject({ ok: false });
    expect(check(report, "legal-mask").detail).toContain("finished episode");
  });

  it.each(["tictactoe-v1", "connect4-v1", "pendulum-v1"])(
    "passes the bundled cartridge %s",
    async (name) => {
      const path = fileURLToPath(
        new URL(`../../../build/cartridges/${name}.wasm`, import.meta.url),
      );
      if (!existsSync(path)) throw new Error(`${path} is missing: run npm run build`);
      const report = await validateCartridge(new Uint8Array(await readFile(path)), {
        source: path,
      });
      expect(formatReport(report)).toContain(`✓ ${name}`);
      expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    },
  );
});
