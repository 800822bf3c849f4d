import gymnasium
import numpy as np
import pytest

import cartridge
from cartridge.vector import CartridgeVectorEnv


def _actions(space: gymnasium.Space, masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if isinstance(space, gymnasium.spaces.Discrete):
        scores = rng.random(masks.shape) * (masks > 0)
        return scores.argmax(axis=1)
    return rng.uniform(space.low, space.high, size=(len(masks), *space.shape)).astype(np.float32)


@pytest.mark.parametrize("env_id,steps", [("tictactoe-v1", 30), ("connect4-v1", 50), ("pendulum-v1", 210)])
def test_matches_a_sequential_reference_with_same_step_autoreset(client, env_id, steps):
    n, seed = 4, 500
    envs = cartridge.gym.make_vec(env_id, num_envs=n, client=client)
    assert isinstance(envs, gymnasium.vector.VectorEnv)
    assert envs.metadata["autoreset_mode"] == gymnasium.vector.AutoresetMode.SAME_STEP
    refs = [cartridge.gym.make(env_id, client=client) for _ in range(n)]
    obs, info = envs.reset(seed=seed)
    ref_info = []
    for i, ref in enumerate(refs):
        o, inf = ref.reset(seed=seed + i)
        assert np.array_equal(obs[i], o)
        assert np.array_equal(info["action_mask"][i], inf["action_mask"])
        ref_info.append(inf)
    rng = np.random.default_rng(0)
    ended_total = 0
    for k in range(1, steps + 1):
        actions = _actions(envs.single_action_space, info["action_mask"], rng)
        obs, rewards, terminated, truncated, info = envs.step(actions)
        assert obs in envs.observation_space
        for i, ref in enumerate(refs):
            o, r, term, trunc, inf = ref.step(actions[i])
            assert rewards[i] == pytest.approx(r)
            assert (terminated[i], truncated[i]) == (term, trunc)
            assert np.array_equal(info["player_rewards"][i], inf["player_rewards"])
            if term or trunc:
                ended_total += 1
                assert info["_final_obs"][i]
                assert np.array_equal(info["final_obs"][i], o)
                # The documented autoreset seed of env i on the k-th step: seed + n * k + i.
                o, inf = ref.reset(seed=seed + n * k + i)
            else:
                assert "final_obs" not in info or not info["_final_obs"][i]
            assert np.array_equal(obs[i], o)
            assert np.array_equal(info["action_mask"][i], inf["action_mask"])
            assert info["current_player"][i] == inf["current_player"]
    assert ended_total > 0
    envs.close()


def test_unseeded_reset_continues_the_seed_sequence(client):
    envs = cartridge.gym.make_vec("tictactoe-v1", num_envs=3, client=client)
    envs.reset(seed=10)
    envs.step(np.array([0, 1, 2]))
    # One step after reset(seed=10): the next unseeded reset starts at 10 + 3 * 2.
    obs, _ = envs.reset()
    batch = client.reset_batch("tictactoe-v1", 16, 3)
    assert np.array_equal(obs, batch.obs)
    envs.close()


def test_reset_with_a_list_of_seeds(client):
    envs = cartridge.gym.make_vec("connect4-v1", num_envs=3, client=client)
    obs, info = envs.reset(seed=[5, 9, 2])
    for i, s in enumerate([5, 9, 2]):
        assert np.array_equal(obs[i], client.reset("connect4-v1", s).obs)
    assert info["action_mask"].shape == (3, 7)
    envs.close()


def test_an_illegal_action_raises_a_typed_error(client):
    envs = CartridgeVectorEnv("tictactoe-v1", 2, client=client)
    envs.reset(seed=0)
    envs.step(np.array([4, 4]))
    with pytest.raises(cartridge.InvalidRequestError) as caught:
        envs.step(np.array([4, 0]))
    assert "env 0" in str(caught.value) and "IllegalAction" in str(caught.value)
    envs.close()
