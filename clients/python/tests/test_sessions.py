"""Game sessions from Python against a real server holding them (the replicated console over the
single-node engine, test/integration/serve-console.ts)."""

import numpy as np
import pytest

import cartridge
from cartridge import EpisodeOverError, SessionClosed, SessionNotFoundError, StaleStepError

from conftest import ROOT, start_listening, stop_server

TTT = "tictactoe-v1"


@pytest.fixture(scope="module")
def console_address():
    """A server with the Sessions service on a free port."""
    process, address = start_listening(
        ["node", "--import", "tsx", str(ROOT / "test" / "integration" / "serve-console.ts")]
    )
    try:
        yield address
    finally:
        stop_server(process)


@pytest.fixture
def player(console_address):
    with cartridge.Client(console_address) as c:
        yield c


def first_legal(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def test_plays_a_session_and_replays_its_export_on_the_stateless_engine(player):
    with player.session(TTT, seed=7) as s:
        assert s.expected_step == 0 and len(s.build_id) == 64
        mask = s.first.last.legal_mask
        while True:
            t = s.step(first_legal(mask))
            assert t.step == s.expected_step and t.obs.dtype == np.float32
            mask = t.legal_mask
            if t.terminated or t.truncated:
                break
        info = s.get()
        assert info.episode_over
        with pytest.raises(EpisodeOverError):
            s.step(0)
        exported = s.export()
        assert (exported.env_id, exported.build_id, exported.seed) == (TTT, s.build_id, 7)
        assert len(exported.actions) == info.step
        state = player.reset(TTT, exported.seed, build_id=exported.build_id).state
        for action in exported.actions:
            state = player.step(TTT, state, int.from_bytes(action, "little"), build_id=exported.build_id).state
        assert state == info.state
    with pytest.raises(SessionNotFoundError):
        s.get()


def test_a_stale_step_raises_with_the_current_step_and_the_loser_catches_up(player, console_address):
    alice = player.session(TTT, seed=1)
    with cartridge.Client(console_address) as other:
        bob = other.attach_session(alice.id)
        alice.step(4)
        with pytest.raises(StaleStepError) as raised:
            bob.step(0)
        assert raised.value.current_step == 1 and raised.value.code == "StaleStep"
        assert bob.expected_step == 1
        assert bob.step(0).step == 2
    alice.close()


def test_a_spectator_watches_transitions_then_the_end(player):
    s = player.session(TTT, seed=5)
    for action in (0, 4, 8):
        s.step(action)
    spectator = player.attach_session(s.id)
    seen = []
    for event in spectator.watch(from_step=0):
        if isinstance(event, SessionClosed):
            seen.append(event.reason)
            break
        seen.append(event.step)
        if event.step == 3:
            s.close()
    assert seen == [0, 1, 2, 3, "closed"]


def test_lists_sessions_by_owner(console_address):
    with cartridge.Client(console_address, client_id="py-lister") as c:
        ids = [c.session(TTT, seed=i).id for i in range(3)]
        page, token = c.list_sessions(owner="py-lister", page_size=2)
        assert [s.session_id for s in page] == ids[:2] and token
        rest, last = c.list_sessions(owner="py-lister", page_size=2, page_token=token)
        assert [s.session_id for s in rest] == ids[2:] and last == ""
