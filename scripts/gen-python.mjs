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
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { listFiles, treeDifferences } from "./generated-tree.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const packageDir = join(root, "clients", "python", "src");
const generatedDir = join("cartridge", "_proto");
const venvPython = join(process.env.CARTRIDGE_VENV ?? join(root, ".venv"), "bin", "python");
/** Python writes bytecode caches next to the stubs; they are not part of the generated code. */
const PYCACHE = ["__pycache__"];
const protoFiles = [
  join("proto", "engine", "v1", "engine.proto"),
  join("proto", "sessions", "v1", "sessions.proto"),
  join("proto", "manifest", "v1", "manifest.proto"),
];

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
  for (const dir of listFiles(join(outputRoot, generatedDir), PYCACHE).map(dirname)) {
    let at = dir;
    for (;;) {
      writeFileSync(join(outputRoot, generatedDir, at, "__init__.py"), "");
      if (at === ".") break;
      at = dirname(at);
    }
  }
}

const temp = mkdtempSync(join(tmpdir(), "cartridge-gen-python-"));
try {
  generate(temp);
  const fresh = join(temp, generatedDir);
  const committed = join(packageDir, generatedDir);
  if (process.argv.includes("--check")) {
    const problems = treeDifferences(fresh, committed, (file) => file, PYCACHE);
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
    console.log(
      `Generated ${listFiles(committed, PYCACHE).join(", ")} in ${relative(root, committed)}.`,
    );
  }
} finally {
  rmSync(temp, { recursive: true, force: true });
}
