#!/usr/bin/env bash
# Rebuilds test/fixtures/c/coinflip-v1.wasm from docs/examples/coinflip.c, the C cartridge written
# from docs/abi.md alone. The compiled module is committed so that the test suite proves a non-
# AssemblyScript cartridge works without needing clang on every machine; rerun this after editing
# the C source (Debian: apt-get install clang lld).
set -euo pipefail
cd "$(dirname "$0")/.."
clang --target=wasm32 -O2 -mbulk-memory -nostdlib -Wl,--no-entry -Wl,--export-dynamic \
  -Wl,--max-memory=1048576 -o test/fixtures/c/coinflip-v1.wasm docs/examples/coinflip.c
node dist/host/cli/main.js validate test/fixtures/c/coinflip-v1.wasm
