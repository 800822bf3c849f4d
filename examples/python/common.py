"""Shared parts of the training examples: playing against the uniform random policy through the
vector env, evaluation, the progress bar and the learning-curve PNG."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import cartridge

# A policy for the batched path: (observations, legal masks, which player it is) of the envs where
# it is to move -> one action per env.
Policy = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def random_actions(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random legal action for every row of ``masks``."""
    scores = rng.random(masks.shape) * (masks > 0)
    return scores.argmax(axis=1)


@dataclass
class Results:
    wins: int = 0
    draws: int = 0
    losses: int = 0

    @property
    def games(self) -> int:
        return self.wins + self.draws + self.losses

    @property
    def win_rate(self) -> float:
        return self.wins / max(1, self.games)

    def add(self, outcome: float) -> None:
        if outcome > 0:
            self.wins += 1
        elif outcome < 0:
            self.losses += 1
        else:
            self.draws += 1


def evaluate(env_id: str, address: str, policy: Policy, games: int, seed: int, num_envs: int = 128) -> dict[str, Results]:
    """Plays ``games`` games of ``policy`` against the uniform random policy, half with the policy
    moving first and half second; results by side ("first", "second") and "all"."""
    envs = cartridge.gym.make_vec(env_id, num_envs=min(num_envs, games), address=address)
    rng = np.random.default_rng(seed)
    n = envs.num_envs
    side = np.arange(n) % 2
    results = {"first": Results(), "second": Results(), "all": Results()}
    started = n
    active = np.ones(n, bool)
    score = np.zeros(n, np.float32)
    obs, info = envs.reset(seed=seed)
    while active.any():
        masks = info["action_mask"]
        actions = random_actions(masks, rng)
        mine = info["current_player"] == side
        if mine.any():
            actions[mine] = policy(obs[mine], masks[mine], side[mine])
        obs, _, terminated, truncated, info = envs.step(actions)
        score += info["player_rewards"][np.arange(n), side]
        for i in np.flatnonzero(terminated | truncated):
            if active[i]:
                outcome = float(score[i])
                results["first" if side[i] == 0 else "second"].add(outcome)
                results["all"].add(outcome)
            score[i] = 0.0
            if started >= games:
                active[i] = False
            else:
                started += 1
    envs.close()
    return results


def progress(total: int, description: str):
    """tqdm when it is installed (it is in examples/python/requirements.txt), else a plain one."""
    try:
        from tqdm import tqdm

        return tqdm(total=total, desc=description, unit="game", dynamic_ncols=True, disable=os.environ.get("CARTRIDGE_NO_PROGRESS") == "1")
    except ImportError:  # pragma: no cover - a fallback for a bare environment
        return _PlainProgress(total, description)


class _PlainProgress:
    def __init__(self, total: int, description: str):
        self.total, self.done, self.description = total, 0, description

    def update(self, n: int) -> None:
        self.done += n
        print(f"\r{self.description}: {self.done}/{self.total}", end="", flush=True)

    def set_postfix_str(self, text: str) -> None:
        print(f"  {text}", end="", flush=True)

    def close(self) -> None:
        print()


@dataclass
class Curve:
    """Win rate against the random policy after so many training games."""

    games: list[int] = field(default_factory=list)
    win_rates: list[float] = field(default_factory=list)

    def add(self, games: int, win_rate: float) -> None:
        self.games.append(games)
        self.win_rates.append(win_rate)

    def save(self, path: Path, title: str, baseline: float) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path.parent.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(self.games, self.win_rates, marker="o", label="trained policy")
        ax.axhline(baseline, color="gray", linestyle="--", label="random policy")
        ax.set_xlabel("training games")
        ax.set_ylabel("win rate vs uniform random")
        ax.set_ylim(0, 1)
        ax.set_title(title)
        ax.legend(loc="lower right")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)


def report(path: Path | None, summary: dict) -> None:
    """Prints the summary as one JSON line (the tests read it) and writes it next to the PNG."""
    line = json.dumps(summary, sort_keys=True)
    print(line, flush=True)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(line + "\n")
