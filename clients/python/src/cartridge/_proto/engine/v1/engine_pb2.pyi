from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    D_TYPE_UNSPECIFIED: _ClassVar[DType]
    D_TYPE_F32: _ClassVar[DType]
    D_TYPE_U8: _ClassVar[DType]
    D_TYPE_I32: _ClassVar[DType]

class EnvStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENV_STATUS_OK: _ClassVar[EnvStatus]
    ENV_STATUS_ILLEGAL_ACTION: _ClassVar[EnvStatus]
    ENV_STATUS_MALFORMED_STATE: _ClassVar[EnvStatus]
    ENV_STATUS_MALFORMED_ACTION: _ClassVar[EnvStatus]
    ENV_STATUS_EPISODE_OVER: _ClassVar[EnvStatus]
    ENV_STATUS_MALFORMED_HINT: _ClassVar[EnvStatus]
    ENV_STATUS_BAD_ARGUMENT: _ClassVar[EnvStatus]
    ENV_STATUS_INTERNAL: _ClassVar[EnvStatus]
D_TYPE_UNSPECIFIED: DType
D_TYPE_F32: DType
D_TYPE_U8: DType
D_TYPE_I32: DType
ENV_STATUS_OK: EnvStatus
ENV_STATUS_ILLEGAL_ACTION: EnvStatus
ENV_STATUS_MALFORMED_STATE: EnvStatus
ENV_STATUS_MALFORMED_ACTION: EnvStatus
ENV_STATUS_EPISODE_OVER: EnvStatus
ENV_STATUS_MALFORMED_HINT: EnvStatus
ENV_STATUS_BAD_ARGUMENT: EnvStatus
ENV_STATUS_INTERNAL: EnvStatus

class EngineId(_message.Message):
    __slots__ = ("env_id", "build_id")
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    BUILD_ID_FIELD_NUMBER: _ClassVar[int]
    env_id: str
    build_id: str
    def __init__(self, env_id: _Optional[str] = ..., build_id: _Optional[str] = ...) -> None: ...

class Encoding(_message.Message):
    __slots__ = ("state", "action", "obs", "schema_version")
    STATE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    OBS_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    state: str
    action: str
    obs: str
    schema_version: int
    def __init__(self, state: _Optional[str] = ..., action: _Optional[str] = ..., obs: _Optional[str] = ..., schema_version: _Optional[int] = ...) -> None: ...

class MultiDiscrete(_message.Message):
    __slots__ = ("nvec",)
    NVEC_FIELD_NUMBER: _ClassVar[int]
    nvec: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, nvec: _Optional[_Iterable[int]] = ...) -> None: ...

class BoxSpec(_message.Message):
    __slots__ = ("low", "high", "shape")
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    low: _containers.RepeatedScalarFieldContainer[float]
    high: _containers.RepeatedScalarFieldContainer[float]
    shape: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, low: _Optional[_Iterable[float]] = ..., high: _Optional[_Iterable[float]] = ..., shape: _Optional[_Iterable[int]] = ...) -> None: ...

class ObsSpec(_message.Message):
    __slots__ = ("dtype", "shape")
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    dtype: DType
    shape: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, dtype: _Optional[_Union[DType, str]] = ..., shape: _Optional[_Iterable[int]] = ...) -> None: ...

class Capabilities(_message.Message):
    __slots__ = ("id", "enc", "max_horizon", "discrete_n", "multi", "continuous", "preferred_batch", "players", "state_bytes", "action_bytes", "obs_bytes", "obs_spec", "legal_mask_bytes", "hint_max_bytes", "max_batch", "max_rollout_steps", "version", "description")
    ID_FIELD_NUMBER: _ClassVar[int]
    ENC_FIELD_NUMBER: _ClassVar[int]
    MAX_HORIZON_FIELD_NUMBER: _ClassVar[int]
    DISCRETE_N_FIELD_NUMBER: _ClassVar[int]
    MULTI_FIELD_NUMBER: _ClassVar[int]
    CONTINUOUS_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_BATCH_FIELD_NUMBER: _ClassVar[int]
    PLAYERS_FIELD_NUMBER: _ClassVar[int]
    STATE_BYTES_FIELD_NUMBER: _ClassVar[int]
    ACTION_BYTES_FIELD_NUMBER: _ClassVar[int]
    OBS_BYTES_FIELD_NUMBER: _ClassVar[int]
    OBS_SPEC_FIELD_NUMBER: _ClassVar[int]
    LEGAL_MASK_BYTES_FIELD_NUMBER: _ClassVar[int]
    HINT_MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    MAX_ROLLOUT_STEPS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    id: EngineId
    enc: Encoding
    max_horizon: int
    discrete_n: int
    multi: MultiDiscrete
    continuous: BoxSpec
    preferred_batch: int
    players: int
    state_bytes: int
    action_bytes: int
    obs_bytes: int
    obs_spec: ObsSpec
    legal_mask_bytes: int
    hint_max_bytes: int
    max_batch: int
    max_rollout_steps: int
    version: str
    description: str
    def __init__(self, id: _Optional[_Union[EngineId, _Mapping]] = ..., enc: _Optional[_Union[Encoding, _Mapping]] = ..., max_horizon: _Optional[int] = ..., discrete_n: _Optional[int] = ..., multi: _Optional[_Union[MultiDiscrete, _Mapping]] = ..., continuous: _Optional[_Union[BoxSpec, _Mapping]] = ..., preferred_batch: _Optional[int] = ..., players: _Optional[int] = ..., state_bytes: _Optional[int] = ..., action_bytes: _Optional[int] = ..., obs_bytes: _Optional[int] = ..., obs_spec: _Optional[_Union[ObsSpec, _Mapping]] = ..., legal_mask_bytes: _Optional[int] = ..., hint_max_bytes: _Optional[int] = ..., max_batch: _Optional[int] = ..., max_rollout_steps: _Optional[int] = ..., version: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class ListEnvsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListEnvsResponse(_message.Message):
    __slots__ = ("envs",)
    ENVS_FIELD_NUMBER: _ClassVar[int]
    envs: _containers.RepeatedCompositeFieldContainer[Capabilities]
    def __init__(self, envs: _Optional[_Iterable[_Union[Capabilities, _Mapping]]] = ...) -> None: ...

class ResetRequest(_message.Message):
    __slots__ = ("id", "seed", "hint")
    ID_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    HINT_FIELD_NUMBER: _ClassVar[int]
    id: EngineId
    seed: int
    hint: bytes
    def __init__(self, id: _Optional[_Union[EngineId, _Mapping]] = ..., seed: _Optional[int] = ..., hint: _Optional[bytes] = ...) -> None: ...

class ResetResponse(_message.Message):
    __slots__ = ("state", "obs", "id", "current_player", "legal_mask")
    STATE_FIELD_NUMBER: _ClassVar[int]
    OBS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PLAYER_FIELD_NUMBER: _ClassVar[int]
    LEGAL_MASK_FIELD_NUMBER: _ClassVar[int]
    state: bytes
    obs: bytes
    id: EngineId
    current_player: int
    legal_mask: bytes
    def __init__(self, state: _Optional[bytes] = ..., obs: _Optional[bytes] = ..., id: _Optional[_Union[EngineId, _Mapping]] = ..., current_player: _Optional[int] = ..., legal_mask: _Optional[bytes] = ...) -> None: ...

class StepRequest(_message.Message):
    __slots__ = ("id", "state", "action")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    id: EngineId
    state: bytes
    action: bytes
    def __init__(self, id: _Optional[_Union[EngineId, _Mapping]] = ..., state: _Optional[bytes] = ..., action: _Optional[bytes] = ...) -> None: ...

class StepResponse(_message.Message):
    __slots__ = ("state", "obs", "reward", "done", "terminated", "truncated", "current_player", "legal_mask", "player_rewards", "id")
    STATE_FIELD_NUMBER: _ClassVar[int]
    OBS_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TERMINATED_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PLAYER_FIELD_NUMBER: _ClassVar[int]
    LEGAL_MASK_FIELD_NUMBER: _ClassVar[int]
    PLAYER_REWARDS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    state: bytes
    obs: bytes
    reward: float
    done: bool
    terminated: bool
    truncated: bool
    current_player: int
    legal_mask: bytes
    player_rewards: _containers.RepeatedScalarFieldContainer[float]
    id: EngineId
    def __init__(self, state: _Optional[bytes] = ..., obs: _Optional[bytes] = ..., reward: _Optional[float] = ..., done: _Optional[bool] = ..., terminated: _Optional[bool] = ..., truncated: _Optional[bool] = ..., current_player: _Optional[int] = ..., legal_mask: _Optional[bytes] = ..., player_rewards: _Optional[_Iterable[float]] = ..., id: _Optional[_Union[EngineId, _Mapping]] = ...) -> None: ...

class VectorStep(_message.Message):
    __slots__ = ("states", "actions", "autoreset", "autoreset_seed")
    STATES_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    AUTORESET_FIELD_NUMBER: _ClassVar[int]
    AUTORESET_SEED_FIELD_NUMBER: _ClassVar[int]
    states: bytes
    actions: bytes
    autoreset: bool
    autoreset_seed: int
    def __init__(self, states: _Optional[bytes] = ..., actions: _Optional[bytes] = ..., autoreset: _Optional[bool] = ..., autoreset_seed: _Optional[int] = ...) -> None: ...

class VectorReset(_message.Message):
    __slots__ = ("seed", "count", "hints")
    SEED_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    HINTS_FIELD_NUMBER: _ClassVar[int]
    seed: int
    count: int
    hints: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, seed: _Optional[int] = ..., count: _Optional[int] = ..., hints: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Rollouts(_message.Message):
    __slots__ = ("seed", "episodes", "step_cap", "include_obs", "include_states")
    SEED_FIELD_NUMBER: _ClassVar[int]
    EPISODES_FIELD_NUMBER: _ClassVar[int]
    STEP_CAP_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_OBS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_STATES_FIELD_NUMBER: _ClassVar[int]
    seed: int
    episodes: int
    step_cap: int
    include_obs: bool
    include_states: bool
    def __init__(self, seed: _Optional[int] = ..., episodes: _Optional[int] = ..., step_cap: _Optional[int] = ..., include_obs: _Optional[bool] = ..., include_states: _Optional[bool] = ...) -> None: ...

class BatchSimulateRequest(_message.Message):
    __slots__ = ("id", "vector", "rollouts", "reset", "chunk_rows")
    ID_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    ROLLOUTS_FIELD_NUMBER: _ClassVar[int]
    RESET_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ROWS_FIELD_NUMBER: _ClassVar[int]
    id: EngineId
    vector: VectorStep
    rollouts: Rollouts
    reset: VectorReset
    chunk_rows: int
    def __init__(self, id: _Optional[_Union[EngineId, _Mapping]] = ..., vector: _Optional[_Union[VectorStep, _Mapping]] = ..., rollouts: _Optional[_Union[Rollouts, _Mapping]] = ..., reset: _Optional[_Union[VectorReset, _Mapping]] = ..., chunk_rows: _Optional[int] = ...) -> None: ...

class SimResultChunk(_message.Message):
    __slots__ = ("id", "rows", "index", "step", "actions", "states", "obs", "rewards", "flags", "current_players", "player_rewards", "statuses", "legal_masks", "final_obs", "final_states")
    ID_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    OBS_FIELD_NUMBER: _ClassVar[int]
    REWARDS_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PLAYERS_FIELD_NUMBER: _ClassVar[int]
    PLAYER_REWARDS_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    LEGAL_MASKS_FIELD_NUMBER: _ClassVar[int]
    FINAL_OBS_FIELD_NUMBER: _ClassVar[int]
    FINAL_STATES_FIELD_NUMBER: _ClassVar[int]
    id: EngineId
    rows: int
    index: bytes
    step: bytes
    actions: bytes
    states: bytes
    obs: bytes
    rewards: bytes
    flags: bytes
    current_players: bytes
    player_rewards: bytes
    statuses: bytes
    legal_masks: bytes
    final_obs: bytes
    final_states: bytes
    def __init__(self, id: _Optional[_Union[EngineId, _Mapping]] = ..., rows: _Optional[int] = ..., index: _Optional[bytes] = ..., step: _Optional[bytes] = ..., actions: _Optional[bytes] = ..., states: _Optional[bytes] = ..., obs: _Optional[bytes] = ..., rewards: _Optional[bytes] = ..., flags: _Optional[bytes] = ..., current_players: _Optional[bytes] = ..., player_rewards: _Optional[bytes] = ..., statuses: _Optional[bytes] = ..., legal_masks: _Optional[bytes] = ..., final_obs: _Optional[bytes] = ..., final_states: _Optional[bytes] = ...) -> None: ...
