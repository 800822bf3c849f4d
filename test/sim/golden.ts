import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";

const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), "testdata");

/** Set `UPDATE_GOLDENS=1` to rewrite golden files instead of comparing against them. */
const UPDATE = process.env.UPDATE_GOLDENS === "1";

/**
 * Compares `lines` with `testdata/<name>.txt` (etcd-raft's datadriven style: a readable trace,
 * reviewed as a diff when the protocol's behaviour changes on purpose). With `UPDATE_GOLDENS=1`
 * the file is rewritten instead; a missing file is an error, never silently created.
 */
export function expectGolden(name: string, lines: readonly string[]): void {
  const path = join(TESTDATA, `${name}.txt`);
  const actual = `${lines.join("\n")}\n`;
  if (UPDATE) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  if (!existsSync(path)) {
    throw new Error(`golden file ${path} is missing: run with UPDATE_GOLDENS=1 to create it`);
  }
  expect(actual).toBe(readFileSync(path, "utf8"));
}
