"""PettingZoo ``AECEnv`` for the turn-based multi-player cartridges (tic-tac-toe, connect four).

Agents are ``player_0 .. player_{P-1}`` (the cartridge's player indices). Each observation is a
dict, PettingZoo's classic-games layout: ``observation`` (the cartridge's observation of the
board) and ``action_mask`` (int8, 1 = legal; all zero unless it is that agent's turn). Rewards are
the cartridge's per-player rewards of each transition (zero-sum for the bundled games). When the
game ends every agent is terminated, and each then leaves with a ``step(None)``.

Seeding follows ``cartridge.gym``: ``reset(seed=s)`` plays the server's episode ``s``, unseeded
resets after it ``s + 1``, ``s + 2``, ...
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv

from cartridge.client import SEED_LIMIT, Client, client_for
from cartridge.spaces import action_space, mask_space, observation_space


class CartridgeAECEnv(AECEnv):
    metadata: dict[str, Any] = {"render_modes": [], "is_parallelizable": False}

    def __init__(self, env_id: str, *, address: str | None = None, client: Client | None = None, build_id: str = ""):
        super().__init__()
        client, self._owns_client = client_for(address, client)
        self.client = client
        self.env_id = env_id
        spec = client.spec(env_id, build_id)
        if spec.players < 2 or spec.action_kind != "discrete" or spec.legal_mask_bytes == 0:
            raise ValueError(f"{env_id}: PettingZoo envs need a turn-based game with 2+ players, a discrete space and legal masks")
        self.spec_ = spec
        self._build_id = build_id
        self.metadata = {**self.metadata, "name": env_id}
        self.possible_agents = [f"player_{p}" for p in range(spec.players)]
        obs_space = spaces.Dict({"observation": observation_space(spec), "action_mask": mask_space(spec)})
        self.observation_spaces = {a: obs_space for a in self.possible_agents}
        self.action_spaces = {a: action_space(spec) for a in self.possible_agents}
        self._next_seed: int | None = None
        self.state: bytes | None = None

    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        if seed is not None:
            episode_seed = int(seed) % SEED_LIMIT
        elif self._next_seed is not None:
            episode_seed = self._next_seed
        else:
            episode_seed = int(np.random.default_rng().integers(0, SEED_LIMIT, dtype=np.uint64))
        hint = b"" if options is None else bytes(options.get("hint", b""))
        r = self.client.reset(self.env_id, episode_seed, hint=hint, build_id=self._build_id)
        self._next_seed = (episode_seed + 1) % SEED_LIMIT
        self._episode_build = r.build_id
        self.state = r.state
        self._obs = r.obs
        self._mask = r.legal_mask
        self.agents = list(self.possible_agents)
        self.rewards = {a: 0.0 for a in self.agents}
        self._cumulative_rewards = {a: 0.0 for a in self.agents}
        self.terminations = {a: False for a in self.agents}
        self.truncations = {a: False for a in self.agents}
        self.infos = {a: {} for a in self.agents}
        self.agent_selection = self.possible_agents[r.current_player]

    def observe(self, agent: str) -> dict[str, np.ndarray]:
        mine = (
            agent == self.agent_selection
            and not self.terminations.get(agent, True)
            and not self.truncations.get(agent, True)
        )
        mask = self._mask.copy() if mine else np.zeros(self.spec_.legal_mask_bytes, np.int8)
        return {"observation": self._obs.copy(), "action_mask": mask}

    def step(self, action) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        r = self.client.step(self.env_id, self.state, int(action), build_id=self._episode_build)
        self.state, self._obs, self._mask = r.state, r.obs, r.legal_mask
        self._cumulative_rewards[agent] = 0.0
        for p, name in enumerate(self.possible_agents):
            self.rewards[name] = float(r.player_rewards[p])
        if r.terminated or r.truncated:
            for name in self.agents:
                self.terminations[name] = bool(r.terminated)
                self.truncations[name] = bool(r.truncated)
            # Everyone leaves with step(None), starting after the agent who ended the game.
            at = self.possible_agents.index(agent)
            self.agent_selection = self.possible_agents[(at + 1) % len(self.possible_agents)]
        else:
            self.agent_selection = self.possible_agents[r.current_player]
        self._accumulate_rewards()

    def close(self) -> None:
        if self._owns_client:
            self.client.close()


def env(env_id: str, *, address: str | None = None, client: Client | None = None, build_id: str = "") -> CartridgeAECEnv:
    """A PettingZoo ``AECEnv`` for a multi-player cartridge, e.g. ``env("connect4-v1", address=...)``."""
    return CartridgeAECEnv(env_id, address=address, client=client, build_id=build_id)
