"""Cartridge: a typed Python client of the Engine service, with Gymnasium, vector and PettingZoo envs.

    import cartridge
    client = cartridge.Client("127.0.0.1:50051")
    env = cartridge.gym.make("tictactoe-v1", address="127.0.0.1:50051")
    envs = cartridge.gym.make_vec("connect4-v1", num_envs=256, address="127.0.0.1:50051")
    aec = cartridge.pettingzoo.env("connect4-v1", address="127.0.0.1:50051")
    with client.session("tictactoe-v1", seed=7) as s:  # held and replicated by the server
        s.step(4)
"""

from cartridge import gym, pettingzoo
from cartridge.client import BatchResult, Client, ResetResult, RolloutResult, StepResult
from cartridge.errors import (
    CartridgeBugError,
    CartridgeError,
    EpisodeOverError,
    InvalidRequestError,
    LimitExceededError,
    PermissionDeniedError,
    SessionNotFoundError,
    StaleStepError,
    UnauthenticatedError,
    UnknownEnvError,
)
from cartridge.session import Session, SessionClosed, SessionExport, SessionInfo, SessionTransition
from cartridge.spec import Spec

__all__ = [
    "BatchResult",
    "CartridgeBugError",
    "CartridgeError",
    "Client",
    "EpisodeOverError",
    "InvalidRequestError",
    "LimitExceededError",
    "PermissionDeniedError",
    "ResetResult",
    "RolloutResult",
    "Session",
    "SessionClosed",
    "SessionExport",
    "SessionInfo",
    "SessionNotFoundError",
    "SessionTransition",
    "StaleStepError",
    "Spec",
    "StepResult",
    "UnauthenticatedError",
    "UnknownEnvError",
    "gym",
    "pettingzoo",
]
__version__ = "0.1.0"
