"""Gymnasium envs over the Engine service.

``make("tictactoe-v1", address=...)`` gives a ``gymnasium.Env``; ``make_vec(env_id,
num_envs=N, address=...)`` a ``gymnasium.vector.VectorEnv`` that steps all N envs in one call.

Seeding: ``reset(seed=s)`` plays the episode the server's ``Reset(seed=s)`` starts, and every
unseeded ``reset()`` after it the next seed (s + 1, s + 2, ...), so a run replays from its first
seed and never repeats an episode. A first ``reset()`` without any seed draws one from the env's
``np_random`` (seeded from the OS by Gymnasium).

``info`` carries ``action_mask`` (int8, 1 = legal; all zero once the episode is over),
``player_rewards`` (float32, one per player, for this transition) and ``current_player``
(-1 once the episode is over).
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np

from cartridge.client import SEED_LIMIT, Client, client_for
from cartridge.spaces import action_space, observation_space
from cartridge.spec import Spec


def _initial_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, SEED_LIMIT, dtype=np.uint64))


class CartridgeEnv(gymnasium.Env):
    """One env on a server. The episode's state bytes live in ``self.state`` (the service is
    stateless), pinned to the build that started the episode."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, env_id: str, *, address: str | None = None, client: Client | None = None, build_id: str = ""):
        client, self._owns_client = client_for(address, client)
        self.client = client
        self.env_id = env_id
        self.spec_ = client.spec(env_id, build_id)
        self._build_id = build_id
        self.observation_space = observation_space(self.spec_)
        self.action_space = action_space(self.spec_)
        self.state: bytes | None = None
        self.episode_seed: int | None = None
        self._next_seed: int | None = None

    @property
    def cartridge_spec(self) -> Spec:
        return self.spec_

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            episode_seed = int(seed) % SEED_LIMIT
        elif self._next_seed is not None:
            episode_seed = self._next_seed
        else:
            episode_seed = _initial_seed(self.np_random)
        hint = b"" if options is None else bytes(options.get("hint", b""))
        r = self.client.reset(self.env_id, episode_seed, hint=hint, build_id=self._build_id)
        self.state = r.state
        self._episode_build = r.build_id
        self.episode_seed = episode_seed
        self._next_seed = (episode_seed + 1) % SEED_LIMIT
        info = {
            "action_mask": r.legal_mask.copy(),
            "player_rewards": np.zeros(self.spec_.players, np.float32),
            "current_player": r.current_player,
        }
        return r.obs.astype(self.observation_space.dtype, copy=True), info

    def step(self, action):
        if self.state is None:
            raise gymnasium.error.ResetNeeded("call reset() before step()")
        r = self.client.step(self.env_id, self.state, action, build_id=self._episode_build)
        self.state = r.state
        info = {
            "action_mask": r.legal_mask.copy(),
            "player_rewards": r.player_rewards,
            "current_player": r.current_player,
        }
        obs = r.obs.astype(self.observation_space.dtype, copy=True)
        return obs, r.reward, r.terminated, r.truncated, info

    def close(self):
        if self._owns_client:
            self.client.close()
        super().close()


def make(env_id: str, *, address: str | None = None, client: Client | None = None, build_id: str = "") -> CartridgeEnv:
    """A ``gymnasium.Env`` for ``env_id`` served at ``address`` (or over an existing client)."""
    return CartridgeEnv(env_id, address=address, client=client, build_id=build_id)


def make_vec(env_id: str, num_envs: int, *, address: str | None = None, client: Client | None = None, build_id: str = ""):
    """A ``gymnasium.vector.VectorEnv`` of ``num_envs`` envs stepped in one call per step
    (same-step autoreset); see ``cartridge.vector.CartridgeVectorEnv``."""
    from cartridge.vector import CartridgeVectorEnv

    return CartridgeVectorEnv(env_id, num_envs, address=address, client=client, build_id=build_id)
