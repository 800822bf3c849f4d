"""Short runs of the training examples in examples/python: each must learn, that is beat the
uniform random policy by a clear margin after a few thousand games (the full runs are documented
in docs/python.md). Seeds are fixed, so a run replays."""

import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "python"
sys.path.insert(0, str(EXAMPLES))


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tabular_q_learning_beats_random_at_tictactoe(address, tmp_path, monkeypatch):
    monkeypatch.setenv("CARTRIDGE_NO_PROGRESS", "1")
    import tictactoe_q

    s = tictactoe_q.train(address, games=3000, num_envs=128, eval_games=400, eval_every=1500, seed=0, alpha=0.3, gamma=0.95, out=tmp_path)
    assert s["win_rate"] > s["baseline_win_rate"] + 0.15
    assert _is_png(tmp_path / "tictactoe_q.png")


def test_neural_policy_beats_random_at_connect_four(address, tmp_path, monkeypatch):
    monkeypatch.setenv("CARTRIDGE_NO_PROGRESS", "1")
    import connect4_policy

    s = connect4_policy.train(
        address, games=2000, minutes=5, num_envs=128, batch=2048, eval_games=200, eval_every=1000, seed=0, lr=3e-4, gamma=0.97, out=tmp_path
    )
    assert s["win_rate"] > s["baseline_win_rate"] + 0.15
    assert _is_png(tmp_path / "connect4_policy.png")
