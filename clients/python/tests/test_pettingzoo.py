import numpy as np
import pytest
from pettingzoo.test import api_test

import cartridge


@pytest.mark.parametrize("env_id", ["tictactoe-v1", "connect4-v1"])
def test_passes_the_pettingzoo_api_test(client, env_id):
    env = cartridge.pettingzoo.env(env_id, client=client)
    api_test(env, num_cycles=200)


def test_a_game_ends_with_zero_sum_rewards_and_every_agent_leaves(client):
    env = cartridge.pettingzoo.env("connect4-v1", client=client)
    env.reset(seed=3)
    totals = {a: 0.0 for a in env.possible_agents}
    for agent in env.agent_iter():
        obs, reward, terminated, truncated, _ = env.last()
        totals[agent] += reward
        if terminated or truncated:
            assert obs["action_mask"].sum() == 0
            env.step(None)
            continue
        assert obs["action_mask"].sum() > 0
        env.step(int(np.flatnonzero(obs["action_mask"])[0]))
    assert env.agents == []
    assert sum(totals.values()) == 0 and max(totals.values()) == 1


def test_refuses_single_player_envs(client):
    with pytest.raises(ValueError):
        cartridge.pettingzoo.env("pendulum-v1", client=client)
