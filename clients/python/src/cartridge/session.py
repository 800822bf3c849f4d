"""Game sessions held (and replicated) by the server: the Sessions service.

A session keeps its state on the server, so players share it by id. ``Session.step`` sends the
step index the handle expects the session to be at; if someone else acted first it raises
``StaleStepError`` (with ``current_step``) and the handle moves there. A failover of the cluster
is a pause: calls go to the leader the server names, and writes are retried with the same client
id and request id, which the cluster applies once.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import grpc
import numpy as np

from cartridge._proto.engine.v1 import engine_pb2 as epb
from cartridge._proto.engine.v1 import engine_pb2_grpc as erpc
from cartridge._proto.sessions.v1 import sessions_pb2 as pb
from cartridge._proto.sessions.v1 import sessions_pb2_grpc as rpc
from cartridge.errors import ERROR_CODE_METADATA_KEY, CartridgeError, StaleStepError, from_rpc_error
from cartridge.spec import Spec

LEADER_ADDRESS_METADATA_KEY = "cartridge-leader-address"
# Typed codes of an outcome that is not known: a retry with the same ids learns it.
_UNKNOWN_OUTCOME = {"Indeterminate", "Timeout"}
# Most request ids in flight from the oldest unanswered to the newest: half the server's window
# (32), so that a retry is always answered exactly.
REQUEST_WINDOW = 16
_FIRST_BACKOFF_S = 0.025
_MAX_BACKOFF_S = 1.0
# Most connections kept, one per node address (leader hints come from servers: bound them).
_MAX_CHANNELS = 16


@dataclass(frozen=True)
class SessionTransition:
    """One transition: ``step`` is 0 for the reset, n after the n-th action."""

    step: int
    action: bytes
    obs: np.ndarray
    reward: float
    player_rewards: np.ndarray
    terminated: bool
    truncated: bool
    current_player: int
    legal_mask: np.ndarray


@dataclass(frozen=True)
class SessionClosed:
    """The end of a watched session: ``reason`` is "closed" or "expired"."""

    reason: str


@dataclass(frozen=True)
class SessionInfo:
    """A session as the node holds it; ``last`` is None in a list."""

    session_id: str
    env_id: str
    build_id: str
    seed: int
    hint: bytes
    owner: str
    step: int
    episode_over: bool
    state: bytes
    created_index: int
    last_active_index: int
    last: SessionTransition | None


@dataclass(frozen=True)
class SessionExport:
    """Enough to replay a session on the stateless Engine: reset with ``seed``, step each action."""

    env_id: str
    build_id: str
    seed: int
    hint: bytes
    actions: list[bytes]


def _retryable(error: grpc.RpcError) -> bool:
    code = error.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return True
    if code != grpc.StatusCode.DEADLINE_EXCEEDED:
        return False
    typed = dict(error.trailing_metadata() or ()).get(ERROR_CODE_METADATA_KEY)
    return typed is None or typed in _UNKNOWN_OUTCOME


class _RequestWindow:
    """Request ids of one client id, never running REQUEST_WINDOW ahead of the oldest unanswered."""

    def __init__(self) -> None:
        self._next = 1
        self._outstanding: set[int] = set()
        self._changed = threading.Condition()

    def acquire(self) -> int:
        with self._changed:
            while self._next - min(self._outstanding, default=self._next) >= REQUEST_WINDOW:
                self._changed.wait()
            request_id = self._next
            self._next += 1
            self._outstanding.add(request_id)
            return request_id

    def release(self, request_id: int) -> None:
        with self._changed:
            self._outstanding.discard(request_id)
            self._changed.notify_all()


class SessionChannel:
    """Calls the nodes of a cluster as one service: each call goes to the node that answered last
    (the leader, once one was named); UNAVAILABLE and unknown outcomes are retried with a growing
    pause, at the leader a refusal names or on the next endpoint, until ``failover_timeout``."""

    def __init__(self, address, endpoints, make_channel, metadata, timeout, failover_timeout, client_id):
        self.client_id = client_id or str(uuid.uuid4())
        self.failover_timeout = failover_timeout
        self._endpoints = [address, *[e for e in endpoints if e != address]]
        self._current = address
        self._make_channel = make_channel
        self._metadata = metadata
        self._timeout = timeout
        self._channels: dict[str, grpc.Channel] = {}
        self._window = _RequestWindow()
        self._specs: dict[tuple[str, str], Spec] = {}

    @property
    def address(self) -> str:
        return self._current

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()

    def _channel(self, address: str) -> grpc.Channel:
        channel = self._channels.get(address)
        if channel is None:
            if len(self._channels) >= _MAX_CHANNELS:
                oldest = next(iter(self._channels))
                self._channels.pop(oldest).close()
            channel = self._make_channel(address)
            self._channels[address] = channel
        return channel

    def sessions(self, address: str) -> rpc.SessionsStub:
        return rpc.SessionsStub(self._channel(address))

    def after_failure(self, error: grpc.RpcError, address: str, attempt: int, give_up_at: float) -> None:
        """Moves to the leader (or the next endpoint) and pauses; re-raises what is not worth a retry."""
        if not _retryable(error) or time.monotonic() >= give_up_at:
            raise from_rpc_error(error) from None
        leader = dict(error.trailing_metadata() or ()).get(LEADER_ADDRESS_METADATA_KEY)
        if leader and leader != address:
            self._current = str(leader)
            return
        if error.code() == grpc.StatusCode.UNAVAILABLE and self._current == address:
            at = self._endpoints.index(address) if address in self._endpoints else -1
            self._current = self._endpoints[(at + 1) % len(self._endpoints)]
        pause = min(_MAX_BACKOFF_S, _FIRST_BACKOFF_S * 2 ** min(attempt, 10))
        time.sleep(max(0.0, min(pause, give_up_at - time.monotonic())))

    def after_end(self, address: str, attempt: int, give_up_at: float) -> None:
        """A stream that ended without its last event: the next endpoint, after a pause."""
        if time.monotonic() >= give_up_at:
            raise CartridgeError(grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE", f"{address} ended the stream early")
        if self._current == address:
            at = self._endpoints.index(address) if address in self._endpoints else -1
            self._current = self._endpoints[(at + 1) % len(self._endpoints)]
        time.sleep(min(_MAX_BACKOFF_S, _FIRST_BACKOFF_S * 2 ** min(attempt, 10)))

    def call(self, method: str, request, *, engine: bool = False):
        """One unary call, retried through a failover (every call here is safe to repeat)."""
        give_up_at = time.monotonic() + self.failover_timeout
        attempt = 0
        while True:
            address = self._current
            stub = erpc.EngineStub(self._channel(address)) if engine else self.sessions(address)
            timeout = max(0.001, min(self._timeout or self.failover_timeout, give_up_at - time.monotonic()))
            try:
                return getattr(stub, method)(request, timeout=timeout, metadata=self._metadata)
            except grpc.RpcError as error:
                self.after_failure(error, address, attempt, give_up_at)
                attempt += 1

    def write(self, method: str, build):
        """A write: a request id from the window, ``build(client_id, request_id)`` sent until answered."""
        request_id = self._window.acquire()
        try:
            return self.call(method, build(self.client_id, request_id))
        finally:
            self._window.release(request_id)

    def stream(self, request: pb.WatchSessionRequest):
        return self.sessions(self._current).WatchSession(request, metadata=self._metadata)

    def spec(self, env_id: str, build_id: str) -> Spec:
        key = (env_id, build_id)
        spec = self._specs.get(key)
        if spec is None:
            caps = self.call("GetCapabilities", epb.EngineId(env_id=env_id, build_id=build_id), engine=True)
            spec = Spec.from_capabilities(caps)
            self._specs[key] = spec
        return spec


def _transition(spec: Spec, t: pb.Transition) -> SessionTransition:
    return SessionTransition(
        step=t.step,
        action=t.action,
        obs=spec.decode_obs(bytearray(t.obs)),
        reward=float(t.reward),
        player_rewards=np.asarray(t.player_rewards, dtype=np.float32),
        terminated=t.terminated,
        truncated=t.truncated,
        current_player=t.current_player,
        legal_mask=spec.decode_mask(bytearray(t.legal_mask)),
    )


def session_info(message: pb.Session, spec: Spec | None) -> SessionInfo:
    return SessionInfo(
        session_id=message.session_id,
        env_id=message.env_id,
        build_id=message.build_id,
        seed=message.seed,
        hint=message.hint,
        owner=message.owner,
        step=message.step,
        episode_over=message.episode_over,
        state=message.state,
        created_index=message.created_index,
        last_active_index=message.last_active_index,
        last=_transition(spec, message.last) if spec is not None and message.HasField("last") else None,
    )


class Session:
    """A game session as one player sees it (see the module docstring). Use it as a context
    manager to close it at the end."""

    def __init__(self, channel: SessionChannel, info: SessionInfo, spec: Spec, index: int):
        self._channel = channel
        self.first = info
        self.spec = spec
        self.expected_step = info.step
        self._index = index

    @property
    def id(self) -> str:
        return self.first.session_id

    @property
    def env_id(self) -> str:
        return self.first.env_id

    @property
    def build_id(self) -> str:
        return self.first.build_id

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def step(self, action) -> SessionTransition:
        """Applies ``action`` at the expected step. Raises ``StaleStepError`` (someone else acted
        first; ``current_step`` says where the session is), ``EpisodeOverError``, ..."""
        data = self.spec.encode_actions(action, 1)
        expected = self.expected_step
        try:
            r = self._channel.write(
                "StepSession",
                lambda client_id, request_id: pb.StepSessionRequest(
                    client_id=client_id,
                    request_id=request_id,
                    session_id=self.id,
                    expected_step=expected,
                    action=data,
                ),
            )
        except StaleStepError as error:
            if error.current_step is not None:
                self.expected_step = error.current_step
            raise
        self._index = max(self._index, r.index)
        transition = _transition(self.spec, r.transition)
        self.expected_step = max(self.expected_step, transition.step)
        return transition

    def get(self) -> SessionInfo:
        """The session as the node holds it, after this handle's own writes."""
        r = self._channel.call("GetSession", pb.GetSessionRequest(session_id=self.id, min_applied_index=self._index))
        info = session_info(r.session, self.spec)
        self.expected_step = info.step
        return info

    def watch(self, from_step: int | None = None) -> Iterator[SessionTransition | SessionClosed]:
        """The session's transitions from ``from_step`` (default: the step after the expected one),
        then live as they are applied, ending with ``SessionClosed``. When the node serving it goes
        away, the watch resumes on another node after the last transition it yielded."""
        following = self.expected_step + 1 if from_step is None else from_step
        attempt = 0
        give_up_at: float | None = None
        while True:
            address = self._channel.address
            stream = self._channel.stream(
                pb.WatchSessionRequest(session_id=self.id, from_step=following, min_applied_index=self._index)
            )
            try:
                for message in stream:
                    attempt, give_up_at = 0, None
                    if message.WhichOneof("event") == "closed":
                        yield SessionClosed(reason=message.closed.reason)
                        return
                    transition = _transition(self.spec, message.transition)
                    following = transition.step + 1
                    self.expected_step = max(self.expected_step, transition.step)
                    yield transition
                # The node ended the stream without the session ending (it is shutting down):
                # resume elsewhere after a pause, as after an error.
                if give_up_at is None:
                    give_up_at = time.monotonic() + self._channel.failover_timeout
                self._channel.after_end(address, attempt, give_up_at)
                attempt += 1
            except grpc.RpcError as error:
                if give_up_at is None:
                    give_up_at = time.monotonic() + self._channel.failover_timeout
                self._channel.after_failure(error, address, attempt, give_up_at)
                attempt += 1
            finally:
                stream.cancel()

    def export(self) -> SessionExport:
        """Env, build, seed, hint and every action: replay it with ``Client.reset`` and ``step``."""
        r = self._channel.call(
            "ExportSession", pb.ExportSessionRequest(session_id=self.id, min_applied_index=self._index)
        )
        return SessionExport(r.env_id, r.build_id, r.seed, r.hint, list(r.actions))

    def close(self) -> int:
        """Closes the session; returns the step it ended at."""
        r = self._channel.write(
            "CloseSession",
            lambda client_id, request_id: pb.CloseSessionRequest(
                client_id=client_id, request_id=request_id, session_id=self.id
            ),
        )
        self._index = max(self._index, r.index)
        return r.step


def create_session(channel: SessionChannel, env_id: str, seed: int, build_id: str, hint: bytes) -> Session:
    r = channel.write(
        "CreateSession",
        lambda client_id, request_id: pb.CreateSessionRequest(
            client_id=client_id, request_id=request_id, env_id=env_id, build_id=build_id, seed=seed, hint=hint
        ),
    )
    spec = channel.spec(r.session.env_id, r.session.build_id)
    return Session(channel, session_info(r.session, spec), spec, r.index)


def attach_session(channel: SessionChannel, session_id: str) -> Session:
    r = channel.call("GetSession", pb.GetSessionRequest(session_id=session_id))
    spec = channel.spec(r.session.env_id, r.session.build_id)
    return Session(channel, session_info(r.session, spec), spec, 0)


def list_sessions(channel: SessionChannel, owner: str, page_size: int, page_token: str) -> tuple[list[SessionInfo], str]:
    r = channel.call(
        "ListSessions", pb.ListSessionsRequest(owner=owner, page_size=page_size, page_token=page_token)
    )
    return [session_info(s, None) for s in r.sessions], r.next_page_token


__all__: Sequence[str] = (
    "Session",
    "SessionClosed",
    "SessionExport",
    "SessionInfo",
    "SessionTransition",
)
