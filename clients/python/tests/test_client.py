import grpc
import numpy as np
import pytest

import cartridge
from cartridge import EpisodeOverError, InvalidRequestError, LimitExceededError, UnknownEnvError

TTT = "tictactoe-v1"


def test_lists_the_bundled_envs_with_decoded_specs(client):
    specs = {s.env_id: s for s in client.list_envs()}
    assert {"tictactoe-v1", "connect4-v1", "pendulum-v1"} <= set(specs)
    ttt = specs[TTT]
    assert ttt.action_kind == "discrete" and ttt.nvec == (9,)
    assert ttt.obs_shape == (27,) and ttt.obs_dtype == np.dtype("<f4")
    assert ttt.players == 2 and ttt.legal_mask_bytes == 9 and len(ttt.build_id) == 64
    assert specs["pendulum-v1"].action_kind == "box"


def test_reset_and_step_return_numpy_arrays(client):
    r = client.reset(TTT, 42)
    assert isinstance(r.obs, np.ndarray) and r.obs.dtype == np.float32 and r.obs.shape == (27,)
    assert r.legal_mask.dtype == np.int8 and r.legal_mask.tolist() == [1] * 9
    assert client.reset(TTT, 42).state == r.state
    s = client.step(TTT, r.state, 4)
    assert s.legal_mask[4] == 0 and s.legal_mask.sum() == 8
    assert s.player_rewards.shape == (2,) and s.player_rewards.dtype == np.float32
    assert not s.terminated and not s.truncated and s.current_player != r.current_player


def test_plays_a_game_to_the_end_with_zero_sum_rewards(client):
    r = client.reset(TTT, 1)
    state, mask, total = r.state, r.legal_mask, np.zeros(2, np.float32)
    for _ in range(9):
        s = client.step(TTT, state, int(np.flatnonzero(mask)[0]))
        total += s.player_rewards
        state, mask = s.state, s.legal_mask
        if s.terminated:
            break
    assert s.terminated and s.current_player == -1 and mask.sum() == 0
    assert total.sum() == 0
    with pytest.raises(EpisodeOverError) as caught:
        client.step(TTT, state, 0)
    assert caught.value.code == "EpisodeOver"
    assert caught.value.status == grpc.StatusCode.FAILED_PRECONDITION


def test_typed_errors_carry_the_servers_code(client):
    with pytest.raises(UnknownEnvError) as unknown:
        client.reset("no-such-env-v1", 0)
    assert unknown.value.code == "UnknownEnv" and unknown.value.status == grpc.StatusCode.NOT_FOUND
    r = client.reset(TTT, 0)
    s = client.step(TTT, r.state, 0)
    with pytest.raises(InvalidRequestError) as illegal:
        client.step(TTT, s.state, 0)
    assert illegal.value.code == "IllegalAction"
    with pytest.raises(InvalidRequestError) as bad_state:
        client.step(TTT, b"\x00", 0)
    assert bad_state.value.code == "BadState"
    with pytest.raises(InvalidRequestError) as bad_hint:
        client.reset(TTT, 0, hint=b"x")
    assert bad_hint.value.code == "BadHint"
    with pytest.raises(LimitExceededError) as too_many:
        client.reset_batch(TTT, 0, 10_000_000)
    assert too_many.value.code == "LimitExceeded"
    assert isinstance(too_many.value, cartridge.CartridgeError)


def test_a_huge_unknown_env_id_is_not_found_and_the_channel_still_works(client):
    # The server bounds every client-supplied string it echoes: an 8,000-character id once came
    # back as RESOURCE_EXHAUSTED (trailers over gRPC's C-core limit) instead of NOT_FOUND.
    huge = "x" * 8000 + "-v1"
    with pytest.raises(UnknownEnvError) as unknown:
        client.reset(huge, 0)
    assert unknown.value.code == "UnknownEnv" and unknown.value.status == grpc.StatusCode.NOT_FOUND
    assert len(str(unknown.value)) < 2048
    assert client.reset(TTT, 0).state


def test_checks_what_the_wire_cannot_carry(client):
    with pytest.raises(ValueError):
        client.reset(TTT, -1)
    with pytest.raises(ValueError):
        client.reset(TTT, 1 << 64)
    r = client.reset(TTT, 0)
    with pytest.raises(ValueError):
        client.step(TTT, r.state, 9)
    with pytest.raises(TypeError):
        client.step(TTT, r.state, 1.5)


def test_reset_batch_seeds_env_i_with_seed_plus_i(client):
    b = client.reset_batch("connect4-v1", 100, 5)
    assert b.obs.shape[0] == 5 and b.legal_masks.shape == (5, 7)
    for i in range(5):
        one = client.reset("connect4-v1", 100 + i)
        assert b.states[i].tobytes() == one.state
        assert np.array_equal(b.obs[i], one.obs)
        assert np.array_equal(b.legal_masks[i], one.legal_mask)


def test_step_batch_autoresets_and_keeps_the_final_observation(client):
    b = client.reset_batch(TTT, 7, 2)
    states = b.states_bytes
    for t in range(1, 10):
        actions = [int(np.flatnonzero(m)[0]) for m in b.legal_masks]
        b = client.step_batch(TTT, states, actions, autoreset_seed=1000 * t)
        states = b.states_bytes
        if b.terminated.any():
            break
    ended = np.flatnonzero(b.terminated | b.truncated)
    assert ended.size > 0 and b.final_obs.shape == (ended.size, 27)
    for k, i in enumerate(ended):
        fresh = client.reset(TTT, 1000 * t + int(i))
        assert b.states[i].tobytes() == fresh.state
        assert b.legal_masks[i].sum() == 9
        assert not np.array_equal(b.final_obs[k], fresh.obs)


def test_rollouts_come_back_as_columns(client):
    r = client.rollouts(TTT, 0, 50, include_obs=True)
    assert set(np.unique(r.episode)) == set(range(50))
    assert r.terminated.sum() == 50
    assert r.obs is not None and r.obs.shape == (len(r.rewards), 27)
    assert np.allclose(r.player_rewards.sum(axis=1), 0)
