"""A small neural policy for connect four, trained against the uniform random policy through the
vector env: a two-layer perceptron actor-critic updated with PPO's clipped objective on Monte Carlo
returns of finished games (PyTorch on the CPU).

    python examples/python/connect4_policy.py --address 127.0.0.1:50051 [--minutes 10]

The agent plays half of the games first and half second; the cartridge's observation holds the
first player's pieces, the second player's and the legal columns, so the agent swaps the two
planes when it plays second and one network plays both sides. Illegal columns are masked out of
the policy with ``info["action_mask"]``. Training stops at ``--games`` games or ``--minutes`` minutes, then the greedy policy plays
``--eval-games`` games against the random policy. Prints a progress bar and a JSON summary line,
and writes the learning curve to ``examples/python/out/connect4_policy.png``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import cartridge
from common import Curve, evaluate, progress, random_actions, report

ENV_ID = "connect4-v1"
OUT = Path(__file__).resolve().parent / "out"


class ActorCritic(nn.Module):
    """A two-layer perceptron actor-critic over the whole observation."""

    def __init__(self, rows: int, columns: int, actions: int, hidden: int = 128):
        super().__init__()
        self.rows, self.columns = rows, columns
        size = 2 * rows * columns + columns
        self.body = nn.Sequential(nn.Linear(size, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.policy = nn.Linear(hidden, actions)
        self.value = nn.Linear(hidden, 1)

    def forward(self, obs: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(obs)
        logits = self.policy(h).masked_fill(masks == 0, -1e9)
        return logits, self.value(h).squeeze(-1)


def from_players_view(obs: np.ndarray, players: np.ndarray, cells: int) -> np.ndarray:
    """The cartridge's observation puts the first player's pieces first; swap the two planes for
    the second player, so that the network always sees its own pieces first and one network
    plays both sides."""
    out = obs.copy()
    second = players == 1
    out[second, :cells] = obs[second, cells : 2 * cells]
    out[second, cells : 2 * cells] = obs[second, :cells]
    return out


def greedy_policy(model: ActorCritic):
    cells = model.rows * model.columns

    def act(obs: np.ndarray, masks: np.ndarray, players: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            logits, _ = model(torch.from_numpy(from_players_view(obs, players, cells)), torch.from_numpy(masks))
        return logits.argmax(dim=1).numpy()

    return act


def update(model, optimizer, obs, masks, actions, old_logp, returns, entropy_coef: float, epochs: int = 4, minibatch: int = 512) -> None:
    """PPO's clipped update over one batch of finished episodes (Monte Carlo returns)."""
    obs_t, masks_t = torch.from_numpy(obs), torch.from_numpy(masks)
    actions_t, old_t, ret_t = torch.from_numpy(actions), torch.from_numpy(old_logp), torch.from_numpy(returns)
    with torch.no_grad():
        _, values = model(obs_t, masks_t)
        advantage = ret_t - values
        advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-6)
    for _ in range(epochs):
        for idx in torch.randperm(len(actions_t)).split(minibatch):
            logits, v = model(obs_t[idx], masks_t[idx])
            dist = torch.distributions.Categorical(logits=logits)
            ratio = torch.exp(dist.log_prob(actions_t[idx]) - old_t[idx])
            adv = advantage[idx]
            policy_loss = -torch.min(ratio * adv, ratio.clamp(0.8, 1.2) * adv).mean()
            loss = policy_loss + 0.5 * ((ret_t[idx] - v) ** 2).mean() - entropy_coef * dist.entropy().mean()
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            optimizer.step()


def train(
    address: str,
    games: int,
    minutes: float,
    num_envs: int,
    batch: int,
    eval_games: int,
    eval_every: int,
    seed: int,
    lr: float,
    gamma: float,
    out: Path | None,
    hidden: int = 128,
    entropy: float = 0.01,
) -> dict:
    start = time.monotonic()
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    envs = cartridge.gym.make_vec(ENV_ID, num_envs=num_envs, address=address)
    columns = int(envs.single_action_space.n)
    rows = (int(np.prod(envs.single_observation_space.shape)) - columns) // (2 * columns)
    model = ActorCritic(rows, columns, columns, hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    n = envs.num_envs
    side = np.arange(n) % 2
    baseline = evaluate(ENV_ID, address, lambda o, m, p: random_actions(m, rng), eval_games, seed + 1)["all"].win_rate
    curve = Curve()
    curve.add(0, baseline)
    # The agent's decisions of each env's current episode, and the finished ones awaiting an update.
    episode: list[list[tuple[np.ndarray, np.ndarray, int]]] = [[] for _ in range(n)]
    score = np.zeros(n, np.float32)
    buf_obs, buf_masks, buf_actions, buf_logp, buf_returns = [], [], [], [], []
    obs, info = envs.reset(seed=seed)
    played, next_eval, recent = 0, eval_every, []
    bar = progress(games, "connect four actor-critic")
    deadline = start + 60 * minutes
    while played < games and time.monotonic() < deadline:
        masks = info["action_mask"]
        actions = random_actions(masks, rng)
        mine = np.flatnonzero(info["current_player"] == side)
        if mine.size:
            view = from_players_view(obs[mine], side[mine], rows * columns)
            with torch.no_grad():
                logits, _ = model(torch.from_numpy(view), torch.from_numpy(masks[mine]))
                dist = torch.distributions.Categorical(logits=logits)
                sample = dist.sample()
                logp = dist.log_prob(sample).numpy()
            chosen = sample.numpy()
            actions[mine] = chosen
            for j, i in enumerate(mine):
                episode[i].append((view[j], masks[i], int(chosen[j]), float(logp[j])))
        obs, _, terminated, truncated, info = envs.step(actions)
        score += info["player_rewards"][np.arange(n), side]
        for i in np.flatnonzero(terminated | truncated):
            steps = episode[i]
            for t, (o, m, a, lp) in enumerate(steps):
                buf_obs.append(o)
                buf_masks.append(m)
                buf_actions.append(a)
                buf_logp.append(lp)
                buf_returns.append(score[i] * gamma ** (len(steps) - 1 - t))
            recent.append(float(score[i]) > 0)
            episode[i], score[i] = [], 0.0
            played += 1
            bar.update(1)
        if len(buf_actions) >= batch:
            update(
                model,
                optimizer,
                np.stack(buf_obs),
                np.stack(buf_masks),
                np.asarray(buf_actions),
                np.asarray(buf_logp, np.float32),
                np.asarray(buf_returns, np.float32),
                entropy,
            )
            buf_obs, buf_masks, buf_actions, buf_logp, buf_returns = [], [], [], [], []
        if played >= next_eval:
            next_eval += eval_every
            rate = evaluate(ENV_ID, address, greedy_policy(model), eval_games, seed + 2)["all"].win_rate
            curve.add(played, rate)
            bar.set_postfix_str(f"win rate {rate:.2f} (sampling: {np.mean(recent[-2000:]):.2f})")
    bar.close()
    envs.close()
    train_seconds = time.monotonic() - start
    final = evaluate(ENV_ID, address, greedy_policy(model), eval_games, seed + 3)
    if curve.games[-1] != played:
        curve.add(played, final["all"].win_rate)
    summary = {
        "example": "connect4_policy",
        "games": played,
        "baseline_win_rate": round(baseline, 4),
        "win_rate": round(final["all"].win_rate, 4),
        "win_rate_first": round(final["first"].win_rate, 4),
        "win_rate_second": round(final["second"].win_rate, 4),
        "eval_games": final["all"].games,
        "train_seconds": round(train_seconds, 1),
        "seconds": round(time.monotonic() - start, 1),
    }
    if out is not None:
        curve.save(out / "connect4_policy.png", "PPO (MLP actor-critic), connect four", baseline)
        torch.save(model.state_dict(), out / "connect4_policy.pt")
    report(None if out is None else out / "connect4_policy.json", summary)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default="127.0.0.1:50051")
    parser.add_argument("--games", type=int, default=100_000)
    parser.add_argument("--minutes", type=float, default=9.0, help="training time budget (evaluation comes after)")
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4096, help="agent decisions per update")
    parser.add_argument("--eval-games", type=int, default=1000)
    parser.add_argument("--eval-every", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--gamma", type=float, default=0.97)
    parser.add_argument("--hidden", type=int, default=128, help="units in each of the two hidden layers")
    parser.add_argument("--entropy", type=float, default=0.01, help="entropy bonus")
    parser.add_argument("--out", type=Path, default=OUT)
    a = parser.parse_args()
    train(a.address, a.games, a.minutes, a.num_envs, a.batch, a.eval_games, a.eval_every, a.seed, a.lr, a.gamma, a.out, a.hidden, a.entropy)


if __name__ == "__main__":
    main()
