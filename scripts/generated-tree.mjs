/**
 * Comparing a freshly generated tree with the committed one, for the `--check` mode of the code
 * generators (gen-proto.mjs, gen-python.mjs).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

/**
 * Every file under `dir` as paths relative to it, sorted; empty when `dir` is missing. Files in a
 * folder named in `skipFolders` (e.g. `__pycache__`) are left out.
 */
export function listFiles(dir, skipFolders = []) {
  let entries;
  try {
    entries = readdirSync(dir, { recursive: true, withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .filter((file) => !file.split(/[\\/]/).some((part) => skipFolders.includes(part)))
    .sort();
}

/**
 * What differs between the `expectedDir` tree and the `actualDir` tree, one line a file, each file
 * named as `shown(file)`.
 */
export function treeDifferences(expectedDir, actualDir, shown, skipFolders = []) {
  const expected = listFiles(expectedDir, skipFolders);
  const actual = listFiles(actualDir, skipFolders);
  const problems = [];
  for (const file of expected) {
    if (!actual.includes(file)) problems.push(`missing: ${shown(file)}`);
    else if (!readFileSync(join(expectedDir, file)).equals(readFileSync(join(actualDir, file)))) {
      problems.push(`out of date: ${shown(file)}`);
    }
  }
  for (const file of actual) {
    if (!expected.includes(file)) problems.push(`stale (no longer generated): ${shown(file)}`);
  }
  return problems;
}
