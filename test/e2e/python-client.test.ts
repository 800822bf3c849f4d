import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

/**
 * The Python package (clients/python) and the training examples (examples/python), tested as a
 * Python user runs them: the project's venv (scripts/python-venv.sh, reused while the
 * requirements are unchanged; CARTRIDGE_VENV may keep it outside the checkout), the generated
 * stubs checked against proto/, then pytest, whose conftest starts a real server
 * (dist/host/cli/main.js over build/cartridges, as `npm test` builds them) on a free port.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const VENV = process.env.CARTRIDGE_VENV ?? join(ROOT, ".venv");
// Creating the venv installs torch from the disk index: minutes on a loaded machine.
const VENV_TIMEOUT_MS = 20 * 60_000;
const PYTEST_TIMEOUT_MS = 10 * 60_000;

/** Runs a command to its end and returns its exit code and its interleaved output. */
function run(
  command: string,
  args: string[],
  cwd: string,
  timeoutMs: number,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: { ...process.env, CARTRIDGE_VENV: VENV, CARTRIDGE_NO_PROGRESS: "1" },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: timeoutMs,
    });
    let output = "";
    child.stdout.on("data", (data: Buffer) => {
      output += data.toString();
    });
    child.stderr.on("data", (data: Buffer) => {
      output += data.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

describe("the Python package against a real server", () => {
  beforeAll(async () => {
    const venv = await run(
      "bash",
      [join(ROOT, "scripts", "python-venv.sh")],
      ROOT,
      VENV_TIMEOUT_MS,
    );
    expect(venv.code, venv.output).toBe(0);
  }, VENV_TIMEOUT_MS);

  it("has stubs generated from proto/", async () => {
    const check = await run(process.execPath, ["scripts/gen-python.mjs", "--check"], ROOT, 120_000);
    expect(check.code, check.output).toBe(0);
  }, 120_000);

  it(
    "passes pytest: client, check_env, api_test, vector env, errors, training examples",
    async () => {
      const pytest = await run(
        join(VENV, "bin", "python"),
        ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        join(ROOT, "clients", "python"),
        PYTEST_TIMEOUT_MS,
      );
      // pytest's own summary line, so that a CI log shows what ran.
      console.log(pytest.output.trim().split("\n").at(-1));
      expect(pytest.code, pytest.output).toBe(0);
      expect(pytest.output).toMatch(/\d+ passed/);
      expect(pytest.output).not.toMatch(/skipped|xfail/);
    },
    PYTEST_TIMEOUT_MS,
  );
});
