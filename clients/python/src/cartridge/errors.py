"""Typed errors of the Engine service.

The server maps its typed domain errors to gRPC statuses in one place (host/server/status.ts) and
sends the typed code in the trailing metadata key ``cartridge-error-code`` ("BadState",
"EpisodeOver", ...). ``CartridgeError`` carries both, and its subclass says what kind of mistake
it was, so callers can ``except EpisodeOverError`` instead of parsing messages.
"""

from __future__ import annotations

import grpc

ERROR_CODE_METADATA_KEY = "cartridge-error-code"
REQUEST_ID_METADATA_KEY = "request-id"
CURRENT_STEP_METADATA_KEY = "cartridge-current-step"


class CartridgeError(Exception):
    """A failed call: ``status`` is the gRPC status, ``code`` the server's typed error code."""

    def __init__(self, status: grpc.StatusCode, code: str, message: str, request_id: str = ""):
        super().__init__(f"{code}: {message}" if code else message)
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id


class UnknownEnvError(CartridgeError):
    """NOT_FOUND: no env (UnknownEnv) or no build (UnknownBuild) with that id is served."""


class InvalidRequestError(CartridgeError):
    """INVALID_ARGUMENT: malformed state, action or hint bytes, an illegal action, a bad argument."""


class EpisodeOverError(CartridgeError):
    """FAILED_PRECONDITION: the state is terminal or truncated; reset first."""


class LimitExceededError(CartridgeError):
    """RESOURCE_EXHAUSTED: over a server limit (split the request) or over the fuel budget."""


class CartridgeBugError(CartridgeError):
    """INTERNAL: the cartridge crashed or broke its own invariant (its bug, not the request's)."""


class UnauthenticatedError(CartridgeError):
    """UNAUTHENTICATED: the server requires a token (or client certificate) and got none it knows."""


class PermissionDeniedError(CartridgeError):
    """PERMISSION_DENIED: the caller's identity lacks the role the method needs (docs/security.md)."""


class StaleStepError(CartridgeError):
    """FAILED_PRECONDITION (StaleStep): someone else stepped the session first; ``current_step``
    is the step it is at. Read it (``Session.get`` or ``watch``) and decide again."""

    def __init__(self, status, code, message, request_id="", current_step: int | None = None):
        super().__init__(status, code, message, request_id)
        self.current_step = current_step


class SessionNotFoundError(CartridgeError):
    """NOT_FOUND (NotFound): no open session with that id (never created, closed or expired)."""


# A typed code that names a more precise error than its status does.
_BY_CODE: dict[str, type[CartridgeError]] = {
    "StaleStep": StaleStepError,
    "NotFound": SessionNotFoundError,
}

_BY_STATUS: dict[grpc.StatusCode, type[CartridgeError]] = {
    grpc.StatusCode.NOT_FOUND: UnknownEnvError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequestError,
    grpc.StatusCode.FAILED_PRECONDITION: EpisodeOverError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: LimitExceededError,
    grpc.StatusCode.INTERNAL: CartridgeBugError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
}


def from_rpc_error(error: grpc.RpcError) -> CartridgeError:
    """The typed error for a failed gRPC call (any status; unknown ones give the base class)."""
    status = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    metadata = {}
    if hasattr(error, "trailing_metadata"):
        metadata = dict(error.trailing_metadata() or ())
    code = str(metadata.get(ERROR_CODE_METADATA_KEY, status.name if status else ""))
    request_id = str(metadata.get(REQUEST_ID_METADATA_KEY, ""))
    if code == "StaleStep":
        step = str(metadata.get(CURRENT_STEP_METADATA_KEY, ""))
        current = int(step) if step.isdigit() else None
        return StaleStepError(status, code, details or "", request_id, current)
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status, CartridgeError)
    return cls(status, code, details or "", request_id)
