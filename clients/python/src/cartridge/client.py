"""A typed client of the Engine service: numpy arrays in and out, typed errors.

The service is stateless: ``reset`` returns the state bytes of a new episode and every ``step``
sends them back with an action. The batched calls (``reset_batch``, ``step_batch``,
``rollouts``) run BatchSimulate and return whole columns, one row per env or per step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import grpc
import numpy as np

from cartridge._proto.engine.v1 import engine_pb2 as pb
from cartridge._proto.engine.v1 import engine_pb2_grpc as rpc
from cartridge.errors import CartridgeError, from_rpc_error
from cartridge.session import (
    Session,
    SessionChannel,
    SessionInfo,
    attach_session,
    create_session,
    list_sessions,
)
from cartridge.spec import Spec

SEED_LIMIT = 1 << 64

# Large enough for any chunk the server sends (it caps them at 32 MiB).
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]


@dataclass(frozen=True)
class ResetResult:
    """The first state of an episode; ``legal_mask`` is int8, 1 = legal (empty for box spaces)."""

    state: bytes
    obs: np.ndarray
    current_player: int
    legal_mask: np.ndarray
    build_id: str


@dataclass(frozen=True)
class StepResult:
    """One transition; ``reward`` is the acting player's, ``player_rewards`` everyone's."""

    state: bytes
    obs: np.ndarray
    reward: float
    terminated: bool
    truncated: bool
    current_player: int
    legal_mask: np.ndarray
    player_rewards: np.ndarray
    build_id: str


@dataclass(frozen=True)
class BatchResult:
    """A vector reset or step, one row per env (row i = env i of the request).

    ``states`` is ``(N, state_bytes)`` uint8, ``obs`` ``(N, *obs_shape)``, ``legal_masks``
    ``(N, legal_mask_bytes)`` int8, ``player_rewards`` ``(N, players)``. ``statuses`` is the
    per-env ``EnvStatus`` (0 = OK; a failed env keeps its input state and gets an all-zero mask).
    With autoreset, ``final_obs`` / ``final_states`` hold the last observation / state of every
    env whose episode ended (``(terminated | truncated) & (statuses == 0)``), in row order, and
    the row itself is the new episode's.
    """

    build_id: str
    states: np.ndarray
    obs: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    current_players: np.ndarray
    player_rewards: np.ndarray
    statuses: np.ndarray
    legal_masks: np.ndarray
    final_obs: np.ndarray
    final_states: np.ndarray

    @property
    def states_bytes(self) -> bytes:
        """All states packed back to back, ready for the next ``step_batch``."""
        return self.states.tobytes()


@dataclass(frozen=True)
class RolloutResult:
    """In-cartridge rollouts, one row per step: ``episode`` and ``step`` index each row."""

    build_id: str
    episode: np.ndarray
    step: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    current_players: np.ndarray
    player_rewards: np.ndarray
    obs: np.ndarray | None
    states: np.ndarray | None


def _seed(seed: int) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= int(seed) < SEED_LIMIT:
        raise ValueError(f"seed must lie in [0, 2**64), got {seed}")
    return int(seed)


def _column(chunks: Sequence[pb.SimResultChunk], name: str) -> bytearray:
    """One column of every chunk, joined with one copy into a buffer numpy can write to."""
    parts = [getattr(c, name) for c in chunks]
    out = bytearray(sum(len(part) for part in parts))
    view = memoryview(out)
    at = 0
    for part in parts:
        view[at : at + len(part)] = part
        at += len(part)
    return out


class Client:
    """A connection to one Engine server, e.g. ``Client("127.0.0.1:50051")``.

    Every call raises a ``CartridgeError`` subclass on failure (``.status`` is the gRPC status,
    ``.code`` the server's typed code such as "EpisodeOver"). ``timeout`` (seconds) is the
    deadline of each call. Use it as a context manager, or call ``close()``.

    A server that requires identities (docs/security.md) takes ``token=`` (sent as
    ``authorization: Bearer <token>`` on every call); a TLS server takes ``root_certificates=``
    (PEM bytes of its CA) and, when it asks for client certificates, ``private_key=`` and
    ``certificate_chain=``.

    Game sessions (``session``, ``attach_session``, ``list_sessions``) ride out a failover of a
    cluster: ``endpoints=`` names the other nodes to try, ``failover_timeout`` (seconds) bounds the
    retries of one call, and ``client_id=`` (default a random UUID) identifies this client's
    writes (it owns the sessions it creates; never share one between two live clients).
    """

    def __init__(
        self,
        address: str,
        *,
        timeout: float | None = 60.0,
        token: str | None = None,
        root_certificates: bytes | None = None,
        private_key: bytes | None = None,
        certificate_chain: bytes | None = None,
        channel: grpc.Channel | None = None,
        endpoints: Sequence[str] = (),
        failover_timeout: float = 30.0,
        client_id: str | None = None,
    ):
        self.address = address
        self.timeout = timeout

        def make_channel(target: str) -> grpc.Channel:
            if root_certificates is not None or certificate_chain is not None:
                credentials = grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)
                return grpc.secure_channel(target, credentials, options=_CHANNEL_OPTIONS)
            return grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)

        self._channel = channel if channel is not None else make_channel(address)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None
        self._stub = rpc.EngineStub(self._channel)
        self._specs: dict[tuple[str, str], Spec] = {}
        self._sessions = SessionChannel(
            address, endpoints, make_channel, self._metadata, timeout, failover_timeout, client_id
        )

    def close(self) -> None:
        self._channel.close()
        self._sessions.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _unary(self, method, request):
        try:
            return method(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    def _stream(self, request: pb.BatchSimulateRequest) -> list[pb.SimResultChunk]:
        try:
            return list(self._stub.BatchSimulate(request, timeout=self.timeout, metadata=self._metadata))
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    # --- description -------------------------------------------------------------------------

    def list_envs(self) -> list[Spec]:
        """Every env the server serves (its current build), sorted by env id."""
        response = self._unary(self._stub.ListEnvs, pb.ListEnvsRequest())
        specs = [Spec.from_capabilities(c) for c in response.envs]
        for spec in specs:
            self._specs[(spec.env_id, spec.build_id)] = spec
        return specs

    def spec(self, env_id: str, build_id: str = "") -> Spec:
        """The env's spec (of ``build_id``, or of the current build); pinned builds are cached."""
        cached = self._specs.get((env_id, build_id)) if build_id else None
        if cached is not None:
            return cached
        caps = self._unary(self._stub.GetCapabilities, pb.EngineId(env_id=env_id, build_id=build_id))
        spec = Spec.from_capabilities(caps)
        self._specs[(spec.env_id, spec.build_id)] = spec
        return spec

    # --- single env ---------------------------------------------------------------------------

    def reset(self, env_id: str, seed: int, *, hint: bytes = b"", build_id: str = "") -> ResetResult:
        """Starts an episode; the same seed always gives the same state."""
        r = self._unary(
            self._stub.Reset,
            pb.ResetRequest(id=pb.EngineId(env_id=env_id, build_id=build_id), seed=_seed(seed), hint=hint),
        )
        spec = self.spec(env_id, r.id.build_id)
        return ResetResult(
            state=r.state,
            obs=spec.decode_obs(bytearray(r.obs)),
            current_player=r.current_player,
            legal_mask=spec.decode_mask(bytearray(r.legal_mask)),
            build_id=r.id.build_id,
        )

    def step(self, env_id: str, state: bytes, action, *, build_id: str = "") -> StepResult:
        """Applies ``action`` (an int, or an array for multi-discrete and box spaces) to ``state``."""
        spec = self.spec(env_id, build_id)
        r = self._unary(
            self._stub.Step,
            pb.StepRequest(
                id=pb.EngineId(env_id=env_id, build_id=build_id),
                state=bytes(state),
                action=spec.encode_actions(action, 1),
            ),
        )
        if r.id.build_id != spec.build_id:
            spec = self.spec(env_id, r.id.build_id)
        return StepResult(
            state=r.state,
            obs=spec.decode_obs(bytearray(r.obs)),
            reward=float(r.reward),
            terminated=r.terminated,
            truncated=r.truncated,
            current_player=r.current_player,
            legal_mask=spec.decode_mask(bytearray(r.legal_mask)),
            player_rewards=np.asarray(r.player_rewards, dtype=np.float32),
            build_id=r.id.build_id,
        )

    # --- game sessions (held and replicated by the server) ----------------------------------

    @property
    def client_id(self) -> str:
        """The client id of this client's session writes."""
        return self._sessions.client_id

    def session(self, env_id: str, seed: int = 0, *, build_id: str = "", hint: bytes = b"") -> Session:
        """Creates a game session: the env is reset with ``seed`` on every node of the cluster.
        Others join it with ``attach_session(session.id)``."""
        return create_session(self._sessions, env_id, _seed(seed), build_id, bytes(hint))

    def attach_session(self, session_id: str) -> Session:
        """A handle on an existing session (a second player, a spectator), at its current step."""
        return attach_session(self._sessions, session_id)

    def list_sessions(self, *, owner: str = "", page_size: int = 0, page_token: str = "") -> tuple[list[SessionInfo], str]:
        """A page of open sessions in creation order (``owner``: only those a client id created)
        and the token of the next page ("" on the last)."""
        return list_sessions(self._sessions, owner, int(page_size), page_token)

    # --- batched ------------------------------------------------------------------------------

    def reset_batch(
        self,
        env_id: str,
        seed: int,
        count: int,
        *,
        hints: Iterable[bytes] = (),
        build_id: str = "",
    ) -> BatchResult:
        """Starts ``count`` episodes in one call, env i seeded ``seed + i`` (mod 2**64). ``hints``:
        none, one for every env, or one per env."""
        request = pb.BatchSimulateRequest(
            id=pb.EngineId(env_id=env_id, build_id=build_id),
            reset=pb.VectorReset(seed=_seed(seed), count=int(count), hints=list(hints)),
        )
        return self._batch(env_id, build_id, request)

    def step_batch(
        self,
        env_id: str,
        states: bytes | np.ndarray,
        actions,
        *,
        autoreset_seed: int | None = None,
        build_id: str = "",
    ) -> BatchResult:
        """Steps N envs in one call: ``states`` packed back to back (or an ``(N, state_bytes)``
        array), ``actions`` one per env. With ``autoreset_seed``, an env whose episode ends is
        reset in the same call, env i seeded ``autoreset_seed + i`` (docs/service.md)."""
        spec = self.spec(env_id, build_id)
        data = states.tobytes() if isinstance(states, np.ndarray) else bytes(states)
        if len(data) == 0 or len(data) % spec.state_bytes != 0:
            raise ValueError(f"states must be a non-empty multiple of {spec.state_bytes} bytes")
        count = len(data) // spec.state_bytes
        vector = pb.VectorStep(states=data, actions=spec.encode_actions(actions, count))
        if autoreset_seed is not None:
            vector.autoreset = True
            vector.autoreset_seed = _seed(autoreset_seed)
        request = pb.BatchSimulateRequest(id=pb.EngineId(env_id=env_id, build_id=build_id), vector=vector)
        return self._batch(env_id, build_id, request)

    def _batch(self, env_id: str, build_id: str, request: pb.BatchSimulateRequest) -> BatchResult:
        chunks = self._stream(request)
        if not chunks:
            raise CartridgeError(grpc.StatusCode.INTERNAL, "Internal", "the server sent no rows")
        served = chunks[0].id.build_id
        spec = self.spec(env_id, served if served else build_id)
        n = sum(c.rows for c in chunks)
        if len(chunks) == 1:
            c = chunks[0]
            col = lambda name: bytearray(getattr(c, name))  # noqa: E731
        else:
            col = lambda name: _column(chunks, name)  # noqa: E731
        flags = np.frombuffer(col("flags"), np.uint8)
        final_obs = col("final_obs")
        final_states = col("final_states")
        return BatchResult(
            build_id=served,
            states=np.frombuffer(col("states"), np.uint8).reshape(n, spec.state_bytes),
            obs=spec.decode_obs(col("obs"), n),
            rewards=np.frombuffer(col("rewards"), "<f4"),
            terminated=(flags & 1) != 0,
            truncated=(flags & 2) != 0,
            current_players=np.frombuffer(col("current_players"), np.int8),
            player_rewards=np.frombuffer(col("player_rewards"), "<f4").reshape(n, spec.players),
            statuses=np.frombuffer(col("statuses"), np.uint8),
            legal_masks=spec.decode_mask(col("legal_masks"), n),
            final_obs=spec.decode_obs(final_obs, len(final_obs) // max(1, spec.obs_bytes)),
            final_states=np.frombuffer(final_states, np.uint8).reshape(-1, spec.state_bytes),
        )

    def rollouts(
        self,
        env_id: str,
        seed: int,
        episodes: int,
        *,
        step_cap: int = 0,
        include_obs: bool = False,
        include_states: bool = False,
        build_id: str = "",
    ) -> RolloutResult:
        """Plays ``episodes`` episodes inside the cartridge under its seeded uniform-legal policy
        (episode i seeded ``seed + i``); one row per step."""
        request = pb.BatchSimulateRequest(
            id=pb.EngineId(env_id=env_id, build_id=build_id),
            rollouts=pb.Rollouts(
                seed=_seed(seed),
                episodes=int(episodes),
                step_cap=int(step_cap),
                include_obs=include_obs,
                include_states=include_states,
            ),
        )
        chunks = self._stream(request)
        served = chunks[0].id.build_id if chunks else build_id
        spec = self.spec(env_id, served)
        n = sum(c.rows for c in chunks)
        col = lambda name: _column(chunks, name)  # noqa: E731
        flags = np.frombuffer(col("flags"), np.uint8)
        width = spec.action_bytes // 4
        action_dtype = "<f4" if spec.action_kind == "box" else "<u4"
        return RolloutResult(
            build_id=served,
            episode=np.frombuffer(col("index"), "<u4"),
            step=np.frombuffer(col("step"), "<u4"),
            actions=np.frombuffer(col("actions"), action_dtype).reshape(n, width),
            rewards=np.frombuffer(col("rewards"), "<f4"),
            terminated=(flags & 1) != 0,
            truncated=(flags & 2) != 0,
            current_players=np.frombuffer(col("current_players"), np.int8),
            player_rewards=np.frombuffer(col("player_rewards"), "<f4").reshape(n, spec.players),
            obs=spec.decode_obs(col("obs"), n) if include_obs else None,
            states=np.frombuffer(col("states"), np.uint8).reshape(n, spec.state_bytes)
            if include_states
            else None,
        )


def client_for(address: str | None, client: Client | None) -> tuple[Client, bool]:
    """The client an env talks through: ``client`` as given, or a new one to ``address``.
    Returns it and whether the env owns it (and so closes it when the env closes)."""
    if client is not None:
        return client, False
    if address is None:
        raise ValueError("pass address= (host:port of a cartridge server) or client=")
    return Client(address), True
