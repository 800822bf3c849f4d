#!/usr/bin/env bash
# Creates (or reuses) the project's Python virtual environment and installs into it the cartridge
# package (clients/python, editable, with its test extra) and the training examples' requirements
# (examples/python/requirements.txt), from the package index pip is configured with (see
# `pip config list`; this machine image has one on disk). It never installs into the system Python.
#
#   scripts/python-venv.sh              # .venv at the repository root
#   CARTRIDGE_VENV=/path scripts/python-venv.sh
#
# The venv is reused as it is while the requirement files and the Python version are unchanged
# (a stamp file inside it records them), so a second run takes well under a second. Delete the
# folder to start afresh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${CARTRIDGE_VENV:-$root/.venv}"
python="${PYTHON:-python3}"

stamp="$( (
  "$python" --version 2>&1
  cat "$root/clients/python/pyproject.toml" "$root/examples/python/requirements.txt"
) | sha256sum | cut -d' ' -f1)"
# The index on disk answers at once; without retries, a package it lacks (pip also asks its
# default index) fails over at once instead of waiting out pip's back-off.
export PIP_RETRIES="${PIP_RETRIES:-0}" PIP_DISABLE_PIP_VERSION_CHECK=1
if [[ -x "$venv/bin/python" && -f "$venv/.cartridge-stamp" && "$(cat "$venv/.cartridge-stamp")" == "$stamp" ]]; then
  # A venv kept outside the checkout (CARTRIDGE_VENV, e.g. a CI cache) may have been made for
  # another clone: point its editable install at this one (seconds; nothing else changes).
  if [[ "$(cat "$venv/.cartridge-source" 2>/dev/null)" != "$root" ]]; then
    "$venv/bin/pip" install --quiet --no-deps -e "$root/clients/python"
    echo "$root" > "$venv/.cartridge-source"
  fi
  echo "python venv up to date: $venv"
  exit 0
fi

start=$SECONDS
# A changed requirement installs over the existing venv (pip skips what is already satisfied).
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
"$venv/bin/pip" install --quiet -e "$root/clients/python[test]" -r "$root/examples/python/requirements.txt"
echo "$stamp" > "$venv/.cartridge-stamp"
echo "$root" > "$venv/.cartridge-source"
echo "python venv ready in $((SECONDS - start)) s: $venv"
