from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Build(_message.Message):
    __slots__ = ("env_id", "build_id", "current", "installed_index", "deployed_by", "size_bytes")
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    BUILD_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    INSTALLED_INDEX_FIELD_NUMBER: _ClassVar[int]
    DEPLOYED_BY_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    env_id: str
    build_id: str
    current: bool
    installed_index: int
    deployed_by: str
    size_bytes: int
    def __init__(self, env_id: _Optional[str] = ..., build_id: _Optional[str] = ..., current: _Optional[bool] = ..., installed_index: _Optional[int] = ..., deployed_by: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class AllowList(_message.Message):
    __slots__ = ("env_id", "build_ids")
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    BUILD_IDS_FIELD_NUMBER: _ClassVar[int]
    env_id: str
    build_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, env_id: _Optional[str] = ..., build_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class DeployRequest(_message.Message):
    __slots__ = ("client_id", "request_id", "module", "make_current", "sha256")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MODULE_FIELD_NUMBER: _ClassVar[int]
    MAKE_CURRENT_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    request_id: int
    module: bytes
    make_current: bool
    sha256: str
    def __init__(self, client_id: _Optional[str] = ..., request_id: _Optional[int] = ..., module: _Optional[bytes] = ..., make_current: _Optional[bool] = ..., sha256: _Optional[str] = ...) -> None: ...

class DeployResponse(_message.Message):
    __slots__ = ("build", "index")
    BUILD_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    build: Build
    index: int
    def __init__(self, build: _Optional[_Union[Build, _Mapping]] = ..., index: _Optional[int] = ...) -> None: ...

class ListBuildsRequest(_message.Message):
    __slots__ = ("env_id", "min_applied_index")
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    env_id: str
    min_applied_index: int
    def __init__(self, env_id: _Optional[str] = ..., min_applied_index: _Optional[int] = ...) -> None: ...

class ListBuildsResponse(_message.Message):
    __slots__ = ("builds", "allow_lists")
    BUILDS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_LISTS_FIELD_NUMBER: _ClassVar[int]
    builds: _containers.RepeatedCompositeFieldContainer[Build]
    allow_lists: _containers.RepeatedCompositeFieldContainer[AllowList]
    def __init__(self, builds: _Optional[_Iterable[_Union[Build, _Mapping]]] = ..., allow_lists: _Optional[_Iterable[_Union[AllowList, _Mapping]]] = ...) -> None: ...

class SetCurrentRequest(_message.Message):
    __slots__ = ("client_id", "request_id", "env_id", "build_id")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    BUILD_ID_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    request_id: int
    env_id: str
    build_id: str
    def __init__(self, client_id: _Optional[str] = ..., request_id: _Optional[int] = ..., env_id: _Optional[str] = ..., build_id: _Optional[str] = ...) -> None: ...

class SetCurrentResponse(_message.Message):
    __slots__ = ("index",)
    INDEX_FIELD_NUMBER: _ClassVar[int]
    index: int
    def __init__(self, index: _Optional[int] = ...) -> None: ...

class RetireRequest(_message.Message):
    __slots__ = ("client_id", "request_id", "env_id", "build_id")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    BUILD_ID_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    request_id: int
    env_id: str
    build_id: str
    def __init__(self, client_id: _Optional[str] = ..., request_id: _Optional[int] = ..., env_id: _Optional[str] = ..., build_id: _Optional[str] = ...) -> None: ...

class RetireResponse(_message.Message):
    __slots__ = ("index",)
    INDEX_FIELD_NUMBER: _ClassVar[int]
    index: int
    def __init__(self, index: _Optional[int] = ...) -> None: ...

class AllowRequest(_message.Message):
    __slots__ = ("client_id", "request_id", "env_id", "build_ids")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ENV_ID_FIELD_NUMBER: _ClassVar[int]
    BUILD_IDS_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    request_id: int
    env_id: str
    build_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, client_id: _Optional[str] = ..., request_id: _Optional[int] = ..., env_id: _Optional[str] = ..., build_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class AllowResponse(_message.Message):
    __slots__ = ("index",)
    INDEX_FIELD_NUMBER: _ClassVar[int]
    index: int
    def __init__(self, index: _Optional[int] = ...) -> None: ...
