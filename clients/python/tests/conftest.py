"""Starts a real cartridge server on a free port for the whole test session.

The server is the repository's own (`node dist/host/cli/main.js serve` over build/cartridges, both
made by `npm run build`); set CARTRIDGE_ADDRESS to test against a server already running instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from pathlib import Path

import pytest

import cartridge

ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT_S = 120


def start_listening(command: list[str]):
    """Starts a server process that logs "listening on HOST:PORT" to stderr; returns (process,
    address). Fails the test when it does not come up."""
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    found: dict[str, str] = {}
    ready = threading.Event()
    lines: list[str] = []

    def read_stderr():
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            match = re.search(r"listening on (\S+)", line)
            if match and not ready.is_set():
                found["address"] = match.group(1)
                ready.set()
        ready.set()

    threading.Thread(target=read_stderr, daemon=True).start()
    ready.wait(START_TIMEOUT_S)
    if "address" not in found:
        stop_server(process)
        pytest.fail("the server did not start:\n" + "".join(lines[-20:]))
    return process, found["address"]


def start_server(*extra_args: str):
    """Starts `cartridge serve` on a free port; returns (process, address)."""
    main = ROOT / "dist" / "host" / "cli" / "main.js"
    cartridges = ROOT / "build" / "cartridges"
    if not main.exists() or not cartridges.exists():
        pytest.fail(f"{main} or {cartridges} is missing: run `npm run build` first")
    command = ["node", str(main), "serve", "--cartridges", str(cartridges), "--host", "127.0.0.1", "--port", "0"]
    return start_listening([*command, "--log-level", "warn", *extra_args])


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def address():
    given = os.environ.get("CARTRIDGE_ADDRESS")
    if given:
        yield given
        return
    process, found = start_server()
    try:
        yield found
    finally:
        stop_server(process)


@pytest.fixture(scope="session")
def client(address):
    with cartridge.Client(address) as c:
        yield c


@pytest.fixture(scope="session")
def env_ids(client):
    return [s.env_id for s in client.list_envs()]
