import subprocess

import grpc
import pytest

import cartridge
from conftest import ROOT, start_server, stop_server


def _token(tokens_file, name: str, roles: str) -> str:
    main = ROOT / "dist" / "host" / "cli" / "main.js"
    out = subprocess.run(
        ["node", str(main), "tokens", "add", "--file", str(tokens_file), "--name", name, "--roles", roles],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def test_tokens_reach_a_server_that_requires_them(tmp_path):
    tokens = tmp_path / "tokens.toml"
    reader = _token(tokens, "trainer", "read")
    player = _token(tokens, "player", "play")
    process, address = start_server("--tokens", str(tokens))
    try:
        with cartridge.Client(address) as anonymous:
            with pytest.raises(cartridge.UnauthenticatedError) as caught:
                anonymous.list_envs()
            assert caught.value.code == "Unauthenticated"
            assert caught.value.status == grpc.StatusCode.UNAUTHENTICATED
        with cartridge.Client(address, token=player) as wrong_role:
            with pytest.raises(cartridge.PermissionDeniedError) as denied:
                wrong_role.reset("tictactoe-v1", 0)
            assert denied.value.code == "PermissionDenied"
        with cartridge.Client(address, token=reader) as client:
            envs = cartridge.gym.make_vec("tictactoe-v1", num_envs=4, client=client)
            obs, _ = envs.reset(seed=0)
            assert obs.shape == (4, 27)
            envs.step([0, 1, 2, 3])
    finally:
        stop_server(process)
