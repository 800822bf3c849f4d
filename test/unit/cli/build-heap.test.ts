import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BuildOptions, buildCartridge } from "../../../host/cli/build.js";
import { BuildError } from "../../../host/cli/cartridge-source.js";
import { scaffoldCartridge } from "../../../host/cli/new.js";

/**
 * Issue 10: a game that allocates on the heap in `step` passed build and validate, then failed
 * every rollout and about one Step in 4,000 with a bare "unreachable". The build now fails, and
 * says which export grows memory and at which call.
 */

let workDir: string;
const lines: string[] = [];
const options: BuildOptions = { debug: false, force: false, log: (line) => lines.push(line) };

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), "cartridge-heap-test-"));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe("cartridge build and a step that allocates", () => {
  it("fails the build, naming cartridge_step and the first call that grew memory", async () => {
    const dir = await scaffoldCartridge("leaky", workDir);
    const game = path.join(dir, "assembly", "game.ts");
    const text = await readFile(game, "utf8");
    // A scratch array per step: the stub runtime never frees it.
    const leaky = text.replace(
      "if (action.take > state.stones) return ILLEGAL_ACTION;",
      "const seen = new Array<i32>(64);\n    seen[0] = action.take;\n    if (seen[0] > state.stones) return ILLEGAL_ACTION;",
    );
    expect(leaky).not.toBe(text);
    await writeFile(game, leaky);
    const outFile = path.join(workDir, "out", "leaky-v1.wasm");
    lines.length = 0;
    const error = await buildCartridge(dir, outFile, options).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(BuildError);
    expect((error as BuildError).code).toBe("Validation");
    const report = lines.join("\n");
    // The stub runtime doubles memory when it runs out, and the fuel charged for a grow by its
    // bytes stops the step once the heap is large: the check names the call that failed and the
    // first that grew memory.
    expect(report).toMatch(
      /✗ heap: cartridge_step failed at call \d+ of 20000 host-driven steps: BudgetExceeded/,
    );
    expect(report).toMatch(
      /linear memory had grown from \d+ to \d+ pages by then \(first after call \d+ of the 2000 warm-up host-driven steps \(cartridge_step\)\)/,
    );
    expect(report).toContain("cartridge_step allocates on the heap");
    await expect(readFile(outFile)).rejects.toThrow();
  });
});
