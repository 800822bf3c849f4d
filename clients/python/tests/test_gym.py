import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import cartridge


def test_every_bundled_env_passes_check_env(client, env_ids):
    assert len(env_ids) >= 3
    for env_id in env_ids:
        env = cartridge.gym.make(env_id, client=client)
        check_env(env, skip_render_check=True)
        env.close()


def test_spaces_come_from_the_capabilities(address):
    env = cartridge.gym.make("connect4-v1", address=address)
    assert isinstance(env, gymnasium.Env)
    assert env.action_space == gymnasium.spaces.Discrete(7)
    assert env.observation_space.shape == env.cartridge_spec.obs_shape
    assert env.observation_space.dtype == np.float32
    pendulum = cartridge.gym.make("pendulum-v1", client=env.client)
    assert isinstance(pendulum.action_space, gymnasium.spaces.Box)
    assert pendulum.action_space.dtype == np.float32
    pendulum.close()
    env.close()


def test_seeded_reset_plays_the_servers_episode_and_unseeded_resets_continue(client):
    env = cartridge.gym.make("pendulum-v1", client=client)
    obs, _ = env.reset(seed=5)
    assert np.array_equal(obs, client.reset("pendulum-v1", 5).obs)
    for k in (6, 7):
        obs, _ = env.reset()
        assert np.array_equal(obs, client.reset("pendulum-v1", k).obs)
    env.close()


def test_info_has_the_mask_and_per_player_rewards(client):
    env = cartridge.gym.make("tictactoe-v1", client=client)
    _, info = env.reset(seed=0)
    assert info["action_mask"].dtype == np.int8 and info["action_mask"].sum() == 9
    total = np.zeros(2, np.float32)
    done = False
    while not done:
        action = int(np.flatnonzero(info["action_mask"])[-1])
        _, reward, terminated, truncated, info = env.step(action)
        assert info["player_rewards"].shape == (2,)
        total += info["player_rewards"]
        done = terminated or truncated
    assert info["action_mask"].sum() == 0 and info["current_player"] == -1
    assert total.sum() == 0
    with pytest.raises(cartridge.EpisodeOverError):
        env.step(0)
    env.close()
