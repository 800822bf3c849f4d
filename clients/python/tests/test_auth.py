import hashlib
import secrets

import grpc
import pytest

import cartridge
from conftest import start_server, stop_server


def _tokens_file(path, roles_by_name: dict[str, str]) -> dict[str, str]:
    """Writes a tokens file in the documented format (docs/security.md) and returns the tokens."""
    tokens, entries = {}, []
    for name, roles in roles_by_name.items():
        token = secrets.token_urlsafe(32)
        tokens[name] = token
        digest = hashlib.sha256(token.encode()).hexdigest()
        listed = ", ".join(f'"{r}"' for r in roles.split(","))
        entries.append(f'[[token]]\nname = "{name}"\nsha256 = "{digest}"\nroles = [{listed}]\n')
    path.write_text("\n".join(entries))
    return tokens


def test_tokens_reach_a_server_that_requires_them(tmp_path):
    tokens = tmp_path / "tokens.toml"
    issued = _tokens_file(tokens, {"trainer": "read", "player": "play"})
    reader, player = issued["trainer"], issued["player"]
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
