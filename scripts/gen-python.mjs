#!/usr/bin/env node
/**
 * Generates the Python gRPC stubs for proto/ into clients/python/src/cartridge/_proto with
 * grpcio-tools (pinned in clients/python/pyproject.toml), run from the project's venv
 * (scripts/python-venv.sh creates or reuses it). With `--check`, generates into a temporary folder
 * and fails when the committed stubs differ, like `npm run check:gen` for the TypeScript code.
 *
 * protoc sees proto/ under the virtual path `cartridge/_proto`, so the generated modules import
 * each other as `cartridge._proto.engine.v1...` with no rewriting.
 */
import { spawnSync } from "node:child_process";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const packageDir = join(root, "clients", "python", "src");
const generatedDir = join("cartridge", "_proto");
const venvPython = join(process.env.CARTRIDGE_VENV ?? join(root, ".venv"), "bin", "python");
const protoFiles = [join("proto", "engine", "v1", "engine.proto")];

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
  if (result.status !== 0) {
    console.error(`${command} ${args.join(" ")} failed (exit ${result.status ?? result.signal}).`);
    process.exit(1);
  }
}

/** Generates the stubs, plus the package markers they need, under `outputRoot/cartridge/_proto`. */
function generate(outputRoot) {
  run(join(root, "scripts", "python-venv.sh"), []);
  run(venvPython, [
    "-m",
    "grpc_tools.protoc",
    `-I${generatedDir}=proto`,
    `--python_out=${outputRoot}`,
    `--pyi_out=${outputRoot}`,
    `--grpc_python_out=${outputRoot}`,
    ...protoFiles,
  ]);
  for (const dir of listFiles(join(outputRoot, generatedDir)).map(dirname)) {
    let at = dir;
    for (;;) {
      writeFileSync(join(outputRoot, generatedDir, at, "__init__.py"), "");
      if (at === ".") break;
      at = dirname(at);
    }
  }
}

function listFiles(dir) {
  let entries;
  try {
    entries = readdirSync(dir, { recursive: true, withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((entry) => entry.isFile() && !entry.parentPath.includes("__pycache__"))
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

const temp = mkdtempSync(join(tmpdir(), "cartridge-gen-python-"));
try {
  generate(temp);
  const fresh = join(temp, generatedDir);
  const committed = join(packageDir, generatedDir);
  if (process.argv.includes("--check")) {
    const expected = listFiles(fresh);
    const actual = listFiles(committed);
    const problems = [];
    for (const file of expected) {
      if (!actual.includes(file)) problems.push(`missing: ${file}`);
      else if (!readFileSync(join(fresh, file)).equals(readFileSync(join(committed, file)))) {
        problems.push(`out of date: ${file}`);
      }
    }
    for (const file of actual) if (!expected.includes(file)) problems.push(`stale: ${file}`);
    if (problems.length > 0) {
      console.error(`The Python stubs in ${relative(root, committed)} do not match proto/:`);
      for (const problem of problems) console.error(`  ${problem}`);
      console.error("Run `npm run gen:python` and commit the result.");
      process.exit(1);
    }
    console.log("Generated Python stubs are up to date.");
  } else {
    rmSync(committed, { recursive: true, force: true });
    mkdirSync(committed, { recursive: true });
    cpSync(fresh, committed, { recursive: true });
    console.log(`Generated ${listFiles(committed).join(", ")} in ${relative(root, committed)}.`);
  }
} finally {
  rmSync(temp, { recursive: true, force: true });
}
