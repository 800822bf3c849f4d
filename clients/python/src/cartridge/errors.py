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
    cls = _BY_STATUS.get(status, CartridgeError)
    return cls(status, code, details or "", str(metadata.get(REQUEST_ID_METADATA_KEY, "")))
