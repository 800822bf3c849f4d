from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Transition(_message.Message):
    __slots__ = ("step", "action", "obs", "reward", "player_rewards", "terminated", "truncated", "current_player", "legal_mask")
    STEP_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    OBS_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    PLAYER_REWARDS_FIELD_NUMBER: _ClassVar[int]
    TERMINATED_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PLAYER_FIELD_NUMBER: _ClassVar[int]
    LEGAL_MASK_FIELD_NUMBER: _ClassVar[int]
    step: int
    action: bytes
    obs: bytes
    reward: float
    player_rewards: _containers.RepeatedScalarFieldContainer[float]
    terminated: bool
    truncated: bool
    current_player: int
    legal_mask: bytes
    def __init__(self, step: _Optional[int] = ..., action: _Optional[bytes] = ..., obs: _Optional[bytes] = ..., reward: _Optional[float] = ..., player_rewards: _Optional[_Iterable[float]] = ..., terminated: _Optional[bool] = ..., truncated: _Optional[bool] = ..., current_player: _Optional[int] = ..., legal_mask: _Optional[bytes] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("session_id", "env_id", "build_id", "seed", "hint", "owner", "step", "episode_over", "state", "created_index", "last_active_index", "last")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    BUILD_ID_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    HINT_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    EPISODE_OVER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_INDEX_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVE_INDEX_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
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
    last: Transition
    def __init__(self, session_id: _Optional[str] = ..., env_id: _Optional[str] = ..., build_id: _Optional[str] = ..., seed: _Optional[int] = ..., hint: _Optional[bytes] = ..., owner: _Optional[str] = ..., step: _Optional[int] = ..., episode_over: _Optional[bool] = ..., state: _Optional[bytes] = ..., created_index: _Optional[int] = ..., last_active_index: _Optional[int] = ..., last: _Optional[_Union[Transition, _Mapping]] = ...) -> None: ...

class CreateSessionRequest(_message.Message):
    __slots__ = ("client_id", "request_id", "env_id", "build_id", "seed", "hint")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    BUILD_ID_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    HINT_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    request_id: int
    env_id: str
    build_id: str
    seed: int
    hint: bytes
    def __init__(self, client_id: _Optional[str] = ..., request_id: _Optional[int] = ..., env_id: _Optional[str] = ..., build_id: _Optional[str] = ..., seed: _Optional[int] = ..., hint: _Optional[bytes] = ...) -> None: ...

class CreateSessionResponse(_message.Message):
    __slots__ = ("session", "index")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    session: Session
    index: int
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ..., index: _Optional[int] = ...) -> None: ...

class StepSessionRequest(_message.Message):
    __slots__ = ("client_id", "request_id", "session_id", "expected_step", "action")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_STEP_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    request_id: int
    session_id: str
    expected_step: int
    action: bytes
    def __init__(self, client_id: _Optional[str] = ..., request_id: _Optional[int] = ..., session_id: _Optional[str] = ..., expected_step: _Optional[int] = ..., action: _Optional[bytes] = ...) -> None: ...

class StepSessionResponse(_message.Message):
    __slots__ = ("transition", "index")
    TRANSITION_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    transition: Transition
    index: int
    def __init__(self, transition: _Optional[_Union[Transition, _Mapping]] = ..., index: _Optional[int] = ...) -> None: ...

class GetSessionRequest(_message.Message):
    __slots__ = ("session_id", "min_applied_index")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    min_applied_index: int
    def __init__(self, session_id: _Optional[str] = ..., min_applied_index: _Optional[int] = ...) -> None: ...

class GetSessionResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: Session
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ...) -> None: ...

class WatchSessionRequest(_message.Message):
    __slots__ = ("session_id", "from_step", "min_applied_index")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_STEP_FIELD_NUMBER: _ClassVar[int]
    MIN_APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    from_step: int
    min_applied_index: int
    def __init__(self, session_id: _Optional[str] = ..., from_step: _Optional[int] = ..., min_applied_index: _Optional[int] = ...) -> None: ...

class WatchSessionResponse(_message.Message):
    __slots__ = ("transition", "closed")
    TRANSITION_FIELD_NUMBER: _ClassVar[int]
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    transition: Transition
    closed: SessionClosed
    def __init__(self, transition: _Optional[_Union[Transition, _Mapping]] = ..., closed: _Optional[_Union[SessionClosed, _Mapping]] = ...) -> None: ...

class SessionClosed(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ("owner", "page_size", "page_token", "min_applied_index")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MIN_APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    owner: str
    page_size: int
    page_token: str
    min_applied_index: int
    def __init__(self, owner: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., min_applied_index: _Optional[int] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions", "next_page_token")
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[Session]
    next_page_token: str
    def __init__(self, sessions: _Optional[_Iterable[_Union[Session, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CloseSessionRequest(_message.Message):
    __slots__ = ("client_id", "request_id", "session_id")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    request_id: int
    session_id: str
    def __init__(self, client_id: _Optional[str] = ..., request_id: _Optional[int] = ..., session_id: _Optional[str] = ...) -> None: ...

class CloseSessionResponse(_message.Message):
    __slots__ = ("step", "index")
    STEP_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    step: int
    index: int
    def __init__(self, step: _Optional[int] = ..., index: _Optional[int] = ...) -> None: ...

class ExportSessionRequest(_message.Message):
    __slots__ = ("session_id", "min_applied_index")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    min_applied_index: int
    def __init__(self, session_id: _Optional[str] = ..., min_applied_index: _Optional[int] = ...) -> None: ...

class ExportSessionResponse(_message.Message):
    __slots__ = ("env_id", "build_id", "seed", "hint", "actions", "step")
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    BUILD_ID_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    HINT_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    env_id: str
    build_id: str
    seed: int
    hint: bytes
    actions: _containers.RepeatedScalarFieldContainer[bytes]
    step: int
    def __init__(self, env_id: _Optional[str] = ..., build_id: _Optional[str] = ..., seed: _Optional[int] = ..., hint: _Optional[bytes] = ..., actions: _Optional[_Iterable[bytes]] = ..., step: _Optional[int] = ...) -> None: ...
