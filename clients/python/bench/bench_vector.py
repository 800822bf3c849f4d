"""Env steps per second through the single-env Gymnasium wrapper and through the vector env.

    python clients/python/bench/bench_vector.py --address 127.0.0.1:50051 [--env tictactoe-v1]

Both drive uniformly random legal actions (chosen with numpy from the masks in ``info``) and
count env transitions; the vector env counts N per call. Prints one JSON line. The numbers
depend on the machine and its load: compare the ratio.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import cartridge


def single_env(address: str, env_id: str, seconds: float) -> float:
    env = cartridge.gym.make(env_id, address=address)
    rng = np.random.default_rng(0)
    _, info = env.reset(seed=0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        legal = np.flatnonzero(info["action_mask"])
        _, _, terminated, truncated, info = env.step(int(rng.choice(legal)))
        steps += 1
        if terminated or truncated:
            _, info = env.reset()
    rate = steps / (time.perf_counter() - start)
    env.close()
    return rate


def vector_env(address: str, env_id: str, num_envs: int, seconds: float) -> float:
    envs = cartridge.gym.make_vec(env_id, num_envs=num_envs, address=address)
    rng = np.random.default_rng(0)
    _, info = envs.reset(seed=0)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        masks = info["action_mask"]
        actions = (rng.random(masks.shape) * masks).argmax(axis=1)
        _, _, _, _, info = envs.step(actions)
        calls += 1
    rate = calls * num_envs / (time.perf_counter() - start)
    envs.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default="127.0.0.1:50051")
    parser.add_argument("--env", default="tictactoe-v1")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--seconds", type=float, default=3.0)
    a = parser.parse_args()
    single = single_env(a.address, a.env, a.seconds)
    result = {"env": a.env, "single_steps_per_s": round(single)}
    for n in a.num_envs:
        rate = vector_env(a.address, a.env, n, a.seconds)
        result[f"vector_{n}_steps_per_s"] = round(rate)
        result[f"vector_{n}_speedup"] = round(rate / single, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
