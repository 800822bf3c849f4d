"""Gymnasium spaces built from an env's spec."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from cartridge.spec import Spec


def _dtype_bounds(dtype: np.dtype) -> tuple[float, float]:
    # The obs spec names shape and dtype only; the bounds are the dtype's own range.
    if dtype.kind == "f":
        return -np.inf, np.inf
    info = np.iinfo(dtype)
    return info.min, info.max


def observation_space(spec: Spec) -> spaces.Box:
    low, high = _dtype_bounds(spec.obs_dtype)
    return spaces.Box(low=low, high=high, shape=spec.obs_shape, dtype=spec.obs_dtype.newbyteorder("="))


def action_space(spec: Spec) -> spaces.Space:
    if spec.action_kind == "discrete":
        return spaces.Discrete(spec.nvec[0])
    if spec.action_kind == "multi_discrete":
        return spaces.MultiDiscrete(np.asarray(spec.nvec, dtype=np.int64))
    return spaces.Box(low=spec.box_low, high=spec.box_high, shape=spec.box_shape, dtype=np.float32)


def mask_space(spec: Spec) -> spaces.Box:
    """The legal-action mask: int8, one entry per action (dimension by dimension), 1 = legal."""
    return spaces.Box(low=0, high=1, shape=(spec.legal_mask_bytes,), dtype=np.int8)
