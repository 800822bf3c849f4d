"""What an env is, decoded from the server's Capabilities: spaces, byte sizes and codecs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cartridge._proto.engine.v1 import engine_pb2 as pb

_DTYPES = {
    pb.D_TYPE_F32: np.dtype("<f4"),
    pb.D_TYPE_U8: np.dtype("u1"),
    pb.D_TYPE_I32: np.dtype("<i4"),
}


@dataclass(frozen=True)
class Spec:
    """An env's capabilities in numpy terms. ``action_kind`` is "discrete", "multi_discrete" or
    "box"; ``nvec`` is ``(n,)`` for a discrete space. ``raw`` is the Capabilities message."""

    env_id: str
    build_id: str
    players: int
    max_horizon: int
    state_bytes: int
    action_bytes: int
    obs_bytes: int
    obs_dtype: np.dtype
    obs_shape: tuple[int, ...]
    action_kind: str
    nvec: tuple[int, ...]
    box_low: np.ndarray
    box_high: np.ndarray
    box_shape: tuple[int, ...]
    legal_mask_bytes: int
    hint_max_bytes: int
    max_batch: int
    preferred_batch: int
    version: str
    description: str
    raw: pb.Capabilities

    @staticmethod
    def from_capabilities(caps: pb.Capabilities) -> "Spec":
        kind = caps.WhichOneof("action_space")
        nvec: tuple[int, ...] = ()
        low = high = np.zeros(0, np.float32)
        box_shape: tuple[int, ...] = ()
        if kind == "discrete_n":
            action_kind, nvec = "discrete", (caps.discrete_n,)
        elif kind == "multi":
            action_kind, nvec = "multi_discrete", tuple(caps.multi.nvec)
        elif kind == "continuous":
            action_kind = "box"
            box_shape = tuple(caps.continuous.shape)
            low = np.asarray(caps.continuous.low, np.float32).reshape(box_shape)
            high = np.asarray(caps.continuous.high, np.float32).reshape(box_shape)
        else:
            raise ValueError(f"{caps.id.env_id}: capabilities without an action space")
        if caps.obs_spec.dtype not in _DTYPES:
            raise ValueError(f"{caps.id.env_id}: unknown observation dtype {caps.obs_spec.dtype}")
        return Spec(
            env_id=caps.id.env_id,
            build_id=caps.id.build_id,
            players=caps.players,
            max_horizon=caps.max_horizon,
            state_bytes=caps.state_bytes,
            action_bytes=caps.action_bytes,
            obs_bytes=caps.obs_bytes,
            obs_dtype=_DTYPES[caps.obs_spec.dtype],
            obs_shape=tuple(caps.obs_spec.shape),
            action_kind=action_kind,
            nvec=nvec,
            box_low=low,
            box_high=high,
            box_shape=box_shape,
            legal_mask_bytes=caps.legal_mask_bytes,
            hint_max_bytes=caps.hint_max_bytes,
            max_batch=caps.max_batch,
            preferred_batch=caps.preferred_batch,
            version=caps.version,
            description=caps.description,
            raw=caps,
        )

    def encode_actions(self, actions, count: int) -> bytes:
        """Packs ``count`` actions (an int, a sequence or an array) as the wire expects them."""
        if self.action_kind == "box":
            a = np.asarray(actions, dtype=np.float32).reshape(count, *self.box_shape)
            return a.astype("<f4", copy=False).tobytes()
        a = np.asarray(actions)
        if a.dtype.kind not in "iu" and not (a.dtype.kind == "f" and np.all(a == np.floor(a))):
            raise TypeError(f"{self.env_id}: actions must be integers, got {a.dtype}")
        a = a.reshape(count, len(self.nvec))
        if np.any(a < 0) or np.any(a >= np.asarray(self.nvec)):
            raise ValueError(f"{self.env_id}: actions must lie in [0, {list(self.nvec)})")
        return a.astype("<u4").tobytes()

    def decode_obs(self, data: bytes, count: int | None = None) -> np.ndarray:
        """Observation bytes as an array of ``obs_shape`` (with a leading ``count`` axis if given)."""
        a = np.frombuffer(data, dtype=self.obs_dtype)
        shape = self.obs_shape if count is None else (count, *self.obs_shape)
        return a.reshape(shape)

    def decode_mask(self, data: bytes, count: int | None = None) -> np.ndarray:
        """Legal-mask bytes as int8 (1 = legal), one row per env if ``count`` is given."""
        a = np.frombuffer(data, dtype=np.int8)
        return a if count is None else a.reshape(count, self.legal_mask_bytes)
