import { readFile, stat } from "node:fs/promises";
import { Command } from "commander";
import { readSourceMapBeside } from "../runtime/module-file.js";
import { formatReport, type ValidationReport, validateCartridge } from "../runtime/validate.js";
import { replayCommandLine } from "./replay.js";

/** Largest file read before handing it to the validator, which applies the real module cap. */
const FILE_MAX_BYTES = 64 * 1024 * 1024;
/** Steps of the validation rollout. */
const DEFAULT_ROLLOUT_STEPS = 64;

/**
 * Validates the module in `file` with the host's own checks and returns the printable report and
 * whether it passed.
 */
export async function validateFile(
  file: string,
  rolloutSteps = DEFAULT_ROLLOUT_STEPS,
): Promise<{ ok: boolean; text: string }> {
  const size = (await stat(file)).size;
  if (size > FILE_MAX_BYTES) {
    return { ok: false, text: `${file}: ${size} bytes, larger than ${FILE_MAX_BYTES}` };
  }
  const sourceMap = await readSourceMapBeside(file);
  const report = await validateCartridge(await readFile(file), {
    source: file,
    rolloutSteps,
    ...(sourceMap === undefined ? {} : { sourceMap }),
  });
  return { ok: report.ok, text: [formatReport(report), ...replayLines(file, report)].join("\n") };
}

/** For each check that trapped, the command that runs the trapping call again. */
function replayLines(file: string, report: ValidationReport): string[] {
  return report.checks.flatMap((check) =>
    check.call === undefined
      ? []
      : [`  replay ${check.name}: ${replayCommandLine(file, check.call)}`],
  );
}

/** `cartridge validate FILE.wasm [--rollout-steps N]`. */
export function validateCommand(): Command {
  return new Command("validate")
    .description("Check a cartridge module against the ABI and print a report (exit 1 if not ok).")
    .argument("<file>", "the .wasm module")
    .option("--rollout-steps <n>", "steps of the validation rollout", String(DEFAULT_ROLLOUT_STEPS))
    .action(async (file: string, flags: { rolloutSteps: string }) => {
      const steps = Number(flags.rolloutSteps);
      if (!Number.isInteger(steps) || steps < 1 || steps > 1_000_000) {
        console.error("cartridge validate: --rollout-steps must be an integer in 1..1000000");
        process.exitCode = 1;
        return;
      }
      try {
        const { ok, text } = await validateFile(file, steps);
        console.log(text);
        if (!ok) process.exitCode = 1;
      } catch (error) {
        console.error(
          `cartridge validate: ${error instanceof Error ? error.message : String(error)}`,
        );
        process.exitCode = 1;
      }
    });
}
