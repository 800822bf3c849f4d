"""A Gymnasium ``VectorEnv`` over BatchSimulate: N envs, one call per step.

Autoreset is Gymnasium's ``SAME_STEP`` mode (EnvPool's too): when env i's episode ends in a
step, that step returns the first observation of its next episode, and the observation it ended
on is in ``info["final_obs"][i]`` (``info["_final_obs"][i]`` is True); ``info["final_info"]``
holds the ended step's per-env info. The server does the reset in the same call.

Seeds: ``reset(seed=s)`` seeds env i with ``s + i``; the k-th ``step`` after it passes
``autoreset_seed = s + N * k``, so an env reset during that step is seeded ``s + N * k + i``.
Every episode of a run thus has its own seed and the run replays from ``s``. An unseeded
``reset()`` continues the sequence (base ``s + N * (k + 1)``).
"""

from __future__ import annotations

from typing import Any

import grpc
import gymnasium
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from cartridge.client import SEED_LIMIT, BatchResult, Client, client_for
from cartridge.errors import InvalidRequestError
from cartridge.spaces import action_space, observation_space

_STATUS_NAMES = {
    1: "IllegalAction",
    2: "MalformedState",
    3: "MalformedAction",
    4: "EpisodeOver",
    5: "MalformedHint",
    6: "BadArgument",
    7: "Internal",
}


class CartridgeVectorEnv(VectorEnv):
    """``num_envs`` copies of ``env_id`` whose state bytes live here, stepped together."""

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, env_id: str, num_envs: int, *, address: str | None = None, client: Client | None = None, build_id: str = ""):
        if num_envs < 1:
            raise ValueError("num_envs must be at least 1")
        client, self._owns_client = client_for(address, client)
        self.client = client
        self.env_id = env_id
        self.num_envs = num_envs
        self.spec_ = client.spec(env_id, build_id)
        self._build_id = build_id
        self.single_observation_space = observation_space(self.spec_)
        self.single_action_space = action_space(self.spec_)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._states: bytes | None = None
        self._episode_build = build_id
        self._base_seed = 0
        self._steps = 0
        self._seeded = False

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        hints: list[bytes] = []
        if options is not None and "hint" in options:
            hints = [bytes(options["hint"])]
        if isinstance(seed, (list, tuple)):
            if len(seed) != self.num_envs:
                raise ValueError(f"{len(seed)} seeds for {self.num_envs} envs")
            return self._reset_each([int(s) for s in seed], hints)
        super().reset(seed=seed)
        if seed is not None:
            base = int(seed) % SEED_LIMIT
        elif self._seeded:
            base = (self._base_seed + self.num_envs * (self._steps + 1)) % SEED_LIMIT
        else:
            base = int(self.np_random.integers(0, SEED_LIMIT, dtype=np.uint64))
        r = self.client.reset_batch(self.env_id, base, self.num_envs, hints=hints, build_id=self._build_id)
        self._base_seed, self._steps, self._seeded = base, 0, True
        return self._start(r)

    def _reset_each(self, seeds: list[int], hints: list[bytes]):
        # Arbitrary per-env seeds: one Reset per env (a consecutive list is one batched call).
        if seeds == [(seeds[0] + i) % SEED_LIMIT for i in range(self.num_envs)]:
            return self.reset(seed=seeds[0], options={"hint": hints[0]} if hints else None)
        super().reset(seed=seeds[0])
        results = [self.client.reset(self.env_id, s, hint=hints[0] if hints else b"", build_id=self._build_id) for s in seeds]
        spec = self.client.spec(self.env_id, results[0].build_id)
        batch = BatchResult(
            build_id=results[0].build_id,
            states=np.frombuffer(b"".join(r.state for r in results), np.uint8).reshape(self.num_envs, -1),
            obs=np.stack([r.obs for r in results]),
            rewards=np.zeros(self.num_envs, np.float32),
            terminated=np.zeros(self.num_envs, bool),
            truncated=np.zeros(self.num_envs, bool),
            current_players=np.asarray([r.current_player for r in results], np.int8),
            player_rewards=np.zeros((self.num_envs, spec.players), np.float32),
            statuses=np.zeros(self.num_envs, np.uint8),
            legal_masks=np.stack([r.legal_mask for r in results]),
            final_obs=np.zeros((0, *spec.obs_shape), spec.obs_dtype),
            final_states=np.zeros((0, spec.state_bytes), np.uint8),
        )
        # Later autoresets continue from the largest seed, so they repeat none of these.
        self._base_seed, self._steps, self._seeded = (max(seeds) + 1) % SEED_LIMIT, -1, True
        return self._start(batch)

    def _start(self, r: BatchResult):
        self._states = r.states.tobytes()
        self._episode_build = r.build_id
        info = {
            "action_mask": r.legal_masks,
            "_action_mask": np.ones(self.num_envs, bool),
            "current_player": r.current_players.astype(np.int64),
            "_current_player": np.ones(self.num_envs, bool),
        }
        return r.obs, info

    def step(self, actions):
        if self._states is None:
            raise gymnasium.error.ResetNeeded("call reset() before step()")
        self._steps += 1
        autoreset_seed = (self._base_seed + self.num_envs * self._steps) % SEED_LIMIT
        r = self.client.step_batch(
            self.env_id, self._states, actions, autoreset_seed=autoreset_seed, build_id=self._episode_build
        )
        failed = np.flatnonzero(r.statuses)
        if failed.size > 0:
            what = ", ".join(f"env {i}: {_STATUS_NAMES.get(int(r.statuses[i]), r.statuses[i])}" for i in failed[:8])
            raise InvalidRequestError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "EnvFailed",
                f"{failed.size} envs failed ({what}); their states are unchanged",
            )
        self._states = r.states.tobytes()
        ended = r.terminated | r.truncated
        everyone = np.ones(self.num_envs, bool)
        info: dict[str, Any] = {
            "action_mask": r.legal_masks,
            "_action_mask": everyone,
            "player_rewards": r.player_rewards,
            "_player_rewards": everyone,
            "current_player": r.current_players.astype(np.int64),
            "_current_player": everyone,
        }
        if ended.any():
            final_obs = np.full(self.num_envs, None, dtype=object)
            rows = np.flatnonzero(ended)
            for k, i in enumerate(rows):
                final_obs[i] = r.final_obs[k]
            info["final_obs"] = final_obs
            info["_final_obs"] = ended
            info["final_info"] = {
                "action_mask": np.zeros_like(r.legal_masks),
                "_action_mask": ended,
                "player_rewards": r.player_rewards,
                "_player_rewards": ended,
                "current_player": np.full(self.num_envs, -1, np.int64),
                "_current_player": ended,
            }
            info["_final_info"] = ended
        return r.obs, r.rewards, r.terminated, r.truncated, info

    def close_extras(self, **kwargs):
        if self._owns_client:
            self.client.close()
