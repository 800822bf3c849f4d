"""Tabular Q-learning for tic-tac-toe against the uniform random policy, through the vector env.

    python examples/python/tictactoe_q.py --address 127.0.0.1:50051 [--games 30000]

The agent plays half of the games first and half second. Its Q-table is keyed by the
observation bytes (the board as the cartridge encodes it); an agent transition runs from one of
its decisions to the next (the opponent's reply in between), with the agent's own reward from
``info["player_rewards"]``. Prints a progress bar, a JSON summary line, and writes the learning
curve to ``examples/python/out/tictactoe_q.png``.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

import cartridge
from common import Curve, evaluate, progress, random_actions, report

ENV_ID = "tictactoe-v1"
OUT = Path(__file__).resolve().parent / "out"


class QTable:
    def __init__(self, actions: int):
        self.q: defaultdict[bytes, np.ndarray] = defaultdict(lambda: np.zeros(actions, np.float32))

    def greedy(self, obs: np.ndarray, masks: np.ndarray, _players: np.ndarray | None = None) -> np.ndarray:
        # The board tells whose turn it is (X and O counts), so the table needs no player input.
        out = np.empty(len(obs), np.int64)
        for i in range(len(obs)):
            values = np.where(masks[i] > 0, self.q[obs[i].tobytes()], -np.inf)
            out[i] = int(np.argmax(values))
        return out

    def best_value(self, obs: np.ndarray, mask: np.ndarray) -> float:
        return float(np.max(np.where(mask > 0, self.q[obs.tobytes()], -np.inf)))


def train(address: str, games: int, num_envs: int, eval_games: int, eval_every: int, seed: int, alpha: float, gamma: float, out: Path | None) -> dict:
    start = time.monotonic()
    rng = np.random.default_rng(seed)
    envs = cartridge.gym.make_vec(ENV_ID, num_envs=num_envs, address=address)
    table = QTable(envs.single_action_space.n)
    n = envs.num_envs
    side = np.arange(n) % 2
    baseline = evaluate(ENV_ID, address, lambda o, m, p: random_actions(m, rng), eval_games, seed + 1)["all"].win_rate
    curve = Curve()
    curve.add(0, baseline)
    # Per env: the agent's last decision (its observation and action) and the reward since.
    last_obs: list[bytes | None] = [None] * n
    last_action = np.zeros(n, np.int64)
    pending = np.zeros(n, np.float32)
    obs, info = envs.reset(seed=seed)
    played, next_eval = 0, eval_every
    bar = progress(games, "tic-tac-toe Q-learning")
    while played < games:
        epsilon = max(0.05, 1.0 - played / (0.6 * games))
        masks = info["action_mask"]
        actions = random_actions(masks, rng)
        mine = np.flatnonzero(info["current_player"] == side)
        if mine.size:
            greedy = table.greedy(obs[mine], masks[mine])
            explore = rng.random(mine.size) < epsilon
            actions[mine] = np.where(explore, actions[mine], greedy)
            for j, i in enumerate(mine):
                # The agent is to move again: close its previous transition with a bootstrap.
                if last_obs[i] is not None:
                    q = table.q[last_obs[i]]
                    target = pending[i] + gamma * table.best_value(obs[i], masks[i])
                    q[last_action[i]] += alpha * (target - q[last_action[i]])
                last_obs[i], last_action[i], pending[i] = obs[i].tobytes(), actions[i], 0.0
        obs, _, terminated, truncated, info = envs.step(actions)
        pending += info["player_rewards"][np.arange(n), side]
        ended = np.flatnonzero(terminated | truncated)
        for i in ended:
            if last_obs[i] is not None:
                q = table.q[last_obs[i]]
                q[last_action[i]] += alpha * (pending[i] - q[last_action[i]])
            last_obs[i], pending[i] = None, 0.0
        played += ended.size
        bar.update(int(ended.size))
        if played >= next_eval or played >= games:
            next_eval += eval_every
            rate = evaluate(ENV_ID, address, table.greedy, eval_games, seed + 2)["all"].win_rate
            curve.add(played, rate)
            bar.set_postfix_str(f"win rate {rate:.2f}")
    bar.close()
    envs.close()
    final = evaluate(ENV_ID, address, table.greedy, eval_games, seed + 3)
    summary = {
        "example": "tictactoe_q",
        "games": played,
        "baseline_win_rate": round(baseline, 4),
        "win_rate": round(final["all"].win_rate, 4),
        "win_rate_first": round(final["first"].win_rate, 4),
        "win_rate_second": round(final["second"].win_rate, 4),
        "loss_rate": round(final["all"].losses / max(1, final["all"].games), 4),
        "states": len(table.q),
        "seconds": round(time.monotonic() - start, 1),
    }
    if out is not None:
        curve.save(out / "tictactoe_q.png", "Tabular Q-learning, tic-tac-toe", baseline)
    report(None if out is None else out / "tictactoe_q.json", summary)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default="127.0.0.1:50051")
    parser.add_argument("--games", type=int, default=30_000)
    parser.add_argument("--num-envs", type=int, default=128)
    parser.add_argument("--eval-games", type=int, default=1000)
    parser.add_argument("--eval-every", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alpha", type=float, default=0.3)
    parser.add_argument("--gamma", type=float, default=0.95)
    parser.add_argument("--out", type=Path, default=OUT)
    a = parser.parse_args()
    train(a.address, a.games, a.num_envs, a.eval_games, a.eval_every, a.seed, a.alpha, a.gamma, a.out)


if __name__ == "__main__":
    main()
