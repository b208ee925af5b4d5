"""Typed errors of the Sandbank clients.

Every error the clients raise is a :class:`SandbankError`. Router answers map one to one from the
router's closed table of error codes (``x-sandbank-codes`` in ``router/openapi.json``; a unit test
checks this module against it), claim failures carry the claim's ``Ready`` reason, and errors that
are worth retrying say so in :attr:`SandbankError.retryable`.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "SandbankError",
    "ConfigurationError",
    "InsecureTransport",
    "KubernetesError",
    "ClaimFailed",
    "TemplateNotFound",
    "WarmPoolNotFound",
    "SandboxNotReady",
    "SandboxTimeout",
    "GatewayNotReady",
    "PortForwardError",
    "RouterError",
    "InvalidArgument",
    "Unauthenticated",
    "PermissionDenied",
    "NotFound",
    "MethodNotAllowed",
    "AlreadyExists",
    "FailedPrecondition",
    "PayloadTooLarge",
    "TooManyStreams",
    "RateLimited",
    "OutputBudgetExhausted",
    "Canceled",
    "Internal",
    "Unimplemented",
    "UpstreamUnavailable",
    "UpstreamFailed",
    "RouterUnavailable",
    "DeadlineExceeded",
    "IdleTimeout",
    "LifetimeExceeded",
    "ResourceExhausted",
    "SandboxOomKilled",
    "CommandTimeout",
    "CommandFailed",
    "StreamClosed",
    "ProtocolError",
    "error_for_code",
]


class SandbankError(Exception):
    """Base of every error raised by ``sandbank`` and ``agentic_sandbox``."""

    #: Whether the same request may succeed when sent again unchanged. For router errors this is the
    #: router's own table, where it also holds after the request reached the sandbox (a deadline, an
    #: agent's error): sending a command again is then the caller's call. The client resends on its
    #: own only what never reached the sandbox (``_protocol.RETRY_SAFE_CODES``).
    retryable: bool = False


class ConfigurationError(SandbankError, ValueError):
    """A constructor argument or environment variable is invalid; the message names it."""


class InsecureTransport(ConfigurationError):
    """The router token would travel over plain ``http://`` to a host that is not loopback. Use
    ``https://``; for development only, ``allow_insecure=True`` or ``SANDBANK_ALLOW_INSECURE=1``."""


class KubernetesError(SandbankError):
    """The Kubernetes API refused or failed a call the client needed (creating the claim, …)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ClaimFailed(SandbankError):
    """The SandboxClaim reached a terminal state: its ``Ready`` condition's reason and message."""

    def __init__(self, claim: str, reason: str, message: str) -> None:
        super().__init__(
            f"SandboxClaim {claim} failed: {reason}: {message}" if message else f"SandboxClaim {claim} failed: {reason}"
        )
        self.claim = claim
        self.reason = reason
        self.message = message


class TemplateNotFound(ClaimFailed):
    """The claim names a SandboxTemplate that does not exist (reason ``TemplateNotFound``)."""


class WarmPoolNotFound(ClaimFailed):
    """The claim names a SandboxWarmPool that does not exist (reason ``WarmPoolNotFound``)."""


class SandboxTimeout(SandbankError, TimeoutError):
    """The sandbox did not become Ready within ``sandbox_ready_timeout``."""

    def __init__(self, claim: str, timeout: float, last_reason: str | None) -> None:
        detail = f" (last reason: {last_reason})" if last_reason else ""
        super().__init__(f"SandboxClaim {claim} was not Ready after {timeout:g} s{detail}")
        self.claim = claim
        self.timeout = timeout
        self.last_reason = last_reason


class GatewayNotReady(SandbankError, TimeoutError):
    """The Gateway has no address in its status within ``gateway_ready_timeout``."""


class PortForwardError(SandbankError):
    """Dev mode: ``kubectl port-forward`` is missing, cannot start, or died (the message says what to check)."""


class RouterError(SandbankError):
    """An error answered by the Sandbank router: its ``code``, HTTP ``status`` and message.

    Raised as itself only when the answer's code is one this client does not know (a newer router),
    or when there is no code and the HTTP status alone names none (a proxy's 500 page); its
    ``error_code`` is then that code, or ``unknown``.
    """

    code: ClassVar[str] = "unknown"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.error_code = code or type(self).code
        self.status = status


class InvalidArgument(RouterError, ValueError):
    code = "invalid_argument"


class Unauthenticated(RouterError):
    """No or a wrong router token: pass ``token=`` or set ``SANDBANK_ROUTER_TOKEN`` (a router in
    ``kubernetes`` auth mode: ``token=sandbank.kubernetes_token()``)."""

    code = "unauthenticated"


class PermissionDenied(RouterError):
    code = "permission_denied"


class NotFound(RouterError):
    """No such sandbox (claim), or no such file in it."""

    code = "not_found"


class MethodNotAllowed(RouterError):
    code = "method_not_allowed"


class AlreadyExists(RouterError):
    code = "already_exists"


class FailedPrecondition(RouterError):
    """The request does not fit the target's state (a directory where a file is needed, …)."""

    code = "failed_precondition"


class PayloadTooLarge(RouterError):
    code = "payload_too_large"


class TooManyStreams(RouterError):
    code = "too_many_streams"
    retryable = True


class RateLimited(RouterError):
    """Too many requests whose credentials the router had not verified yet came from this address
    (its limit before authentication); ``Retry-After`` says when to try again."""

    code = "rate_limited"
    retryable = True


class OutputBudgetExhausted(RouterError):
    """The router already holds its budget of buffered exec output (all callers together), so it
    ran nothing; ``Retry-After`` says when to try again. Streaming the output avoids the budget."""

    code = "output_budget_exhausted"
    retryable = True


class Canceled(RouterError):
    code = "canceled"


class Internal(RouterError):
    """A bug in the router; its log has the cause."""

    code = "internal"
    retryable = True


class Unimplemented(RouterError):
    """The sandbox does not support this (the Sandbank API on a pod without an agent)."""

    code = "unimplemented"


class UpstreamUnavailable(RouterError):
    """The router could not reach the sandbox's agent (nothing was sent to it)."""

    code = "upstream_unavailable"
    retryable = True


class UpstreamFailed(RouterError):
    """The sandbox's agent answered with an error of its own: the request reached it."""

    code = "upstream_failed"
    retryable = True


class RouterUnavailable(RouterError):
    """The router is shutting down or cannot be reached; another replica will answer."""

    code = "shutting_down"
    retryable = True


class DeadlineExceeded(RouterError, TimeoutError):
    """The request's deadline (``X-Sandbox-Timeout``, capped by the router) passed first."""

    code = "deadline_exceeded"
    retryable = True


class IdleTimeout(DeadlineExceeded):
    """A WebSocket session saw no frame in either direction for the router's idle timeout."""

    code = "idle_timeout"
    retryable = False


class LifetimeExceeded(DeadlineExceeded):
    """A WebSocket session reached the router's maximum lifetime."""

    code = "lifetime_exceeded"
    retryable = False


class ResourceExhausted(RouterError):
    code = "resource_exhausted"


class SandboxOomKilled(RouterError):
    """The sandbox went over its memory limit and was killed whole while the call ran (its Pod
    reports ``OOMKilled``); what the command did is lost with it. Not retried: the same command
    would likely do it again (docs/exit-metadata.md)."""

    code = "sandbox_oom_killed"


class SandboxNotReady(RouterError):
    """The claim exists but its sandbox is not bound or not Ready yet (the router says retry)."""

    code = "sandbox_not_ready"
    retryable = True


class CommandTimeout(SandbankError, TimeoutError):
    """A command ran past its timeout (the agent killed it), or a local ``wait(timeout=)`` expired."""


class CommandFailed(SandbankError):
    """Raised by ``CommandResult.check()`` for a non-zero exit; ``result`` is the CommandResult."""

    def __init__(self, message: str, result: object) -> None:
        super().__init__(message)
        self.result = result


class StreamClosed(SandbankError):
    """The exec stream ended without an exit status (the connection dropped), or a process's
    output stream was cut and could not be resumed (the message says from which offset to resume)."""


class ProtocolError(SandbankError):
    """The router answered outside its own protocol: an attach frame truncated, oversized, of an
    unknown kind or out of order, or a process description missing a field. The client stops
    reading there rather than guess (or buffer without bound)."""


# Each class carries its router code; the router's table decides which exist (a unit test checks).
_BY_CODE: dict[str, type[RouterError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        Unauthenticated,
        PermissionDenied,
        NotFound,
        MethodNotAllowed,
        IdleTimeout,
        LifetimeExceeded,
        AlreadyExists,
        FailedPrecondition,
        PayloadTooLarge,
        TooManyStreams,
        RateLimited,
        OutputBudgetExhausted,
        Canceled,
        Internal,
        Unimplemented,
        UpstreamUnavailable,
        UpstreamFailed,
        SandboxNotReady,
        RouterUnavailable,
        ResourceExhausted,
        SandboxOomKilled,
        DeadlineExceeded,
    )
}

# When a response carries no code (a proxy in between, an old router), the HTTP status decides:
# one of the router's codes with that status (the router itself always sends the code).
_BY_STATUS: dict[int, str] = {
    400: "invalid_argument",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    408: "idle_timeout",
    409: "already_exists",
    413: "payload_too_large",
    429: "too_many_streams",
    502: "upstream_unavailable",
    503: "shutting_down",
    504: "deadline_exceeded",
    507: "resource_exhausted",
}


def error_for_code(code: str | None, message: str, status: int | None = None) -> RouterError:
    """The typed error for a router error ``code`` (or, without one, for the HTTP ``status``)."""
    if not code and status is not None:
        code = _BY_STATUS.get(status)
    cls = _BY_CODE.get(code or "", RouterError)
    return cls(message, code=code, status=status)
