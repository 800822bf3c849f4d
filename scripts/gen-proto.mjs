#!/usr/bin/env node
/**
 * Generates the TypeScript code for proto/ with buf and ts-proto (buf.gen.yaml), into
 * host/proto/generated. With `--check`, generates into a temporary folder instead and fails when
 * the committed code differs, so that CI catches a .proto edit without a regeneration.
 *
 * buf runs from node_modules (the pinned @bufbuild/buf package) with a local plugin, so nothing is
 * downloaded.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { listFiles, treeDifferences } from "./generated-tree.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const generatedDir = join("host", "proto", "generated");
const bufBin = join(root, "node_modules", "@bufbuild", "buf", "bin", "buf");

/** Runs `buf lint` (buf.yaml's rules), so that a contract problem fails before codegen. */
function lint() {
  const result = spawnSync(process.execPath, [bufBin, "lint"], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (result.status !== 0) {
    console.error("buf lint failed: fix proto/ (or the exceptions in buf.yaml) first.");
    process.exit(1);
  }
}

/** Runs `buf generate` with its output rooted at `outputRoot`; exits on failure. */
function generate(outputRoot) {
  const result = spawnSync(process.execPath, [bufBin, "generate", "--output", outputRoot], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (result.status !== 0) {
    console.error(`buf generate failed (exit ${result.status ?? result.signal}).`);
    process.exit(1);
  }
}

lint();
if (process.argv.includes("--check")) {
  const temp = mkdtempSync(join(tmpdir(), "cartridge-gen-"));
  try {
    generate(temp);
    const problems = treeDifferences(join(temp, generatedDir), join(root, generatedDir), (file) =>
      join(generatedDir, file),
    );
    if (problems.length > 0) {
      console.error("The generated protobuf code does not match proto/:");
      for (const problem of problems) console.error(`  ${problem}`);
      console.error("Run `npm run gen` and commit the result.");
      process.exit(1);
    }
    console.log("Generated protobuf code is up to date.");
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
} else {
  // Start from an empty folder so that code for a deleted .proto does not linger.
  rmSync(join(root, generatedDir), { recursive: true, force: true });
  generate(root);
  console.log(`Generated ${listFiles(join(root, generatedDir)).join(", ")} in ${generatedDir}.`);
}
