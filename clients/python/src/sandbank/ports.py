"""A sandbox's own servers through the router: ``sandbox.ports``.

Every port the template declares (a TCP ``containerPort``, or any port when its pod carries
``sandbank.dev/expose-any-port: "true"``) is reachable at the claim's port route,
``/v1/namespaces/{ns}/sandboxclaims/{name}/ports/{port}/{path}``, with the router's usual
authentication; :meth:`Ports.request` sends a request there with this handle's token, and
:meth:`Ports.preview` mints a signed link a browser opens without any token until it expires.
The sandbox's answers come back as they are (a 404 of its own is a response, not an error); the
router's refusals (a port not declared, nothing listening) raise its typed errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from . import _ops
from ._ops import PreviewLink
from ._protocol import claim_prefix

if TYPE_CHECKING:
    from ._route import Route
    from .aio import AsyncSandbox
    from .sandbox import Sandbox

#: Methods that are safe to send again after a failure on the way (RFC 9110 idempotent, no effect).
_RESENDABLE = frozenset({"GET", "HEAD", "OPTIONS"})


def _request_kwargs(
    method: str, body: bytes | str | None, headers: Mapping[str, str] | None, timeout: float | None
) -> dict[str, Any]:
    content = body.encode() if isinstance(body, str) else body
    return {
        "idempotent": method.upper() in _RESENDABLE,
        "timeout": timeout,
        "headers": dict(headers or {}),
        "sandbox_answers": True,
        **({"content": content} if content is not None else {}),
    }


class _PortsBase:
    def __init__(self, route: Route, namespace: str, name: str) -> None:
        self._route = route
        self._claim = claim_prefix(namespace, name)

    def _url(self, base: str, port: int, path: str) -> str:
        return base + _ops.port_path(self._claim, port, path)


class Ports(_PortsBase):
    """Ports of the sandbox, as ``sandbox.ports``."""

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox._p.route, sandbox.namespace, sandbox.name)
        self._sb = sandbox

    def url(self, port: int, path: str = "/") -> str:
        """The port route's URL of ``port`` and ``path`` (with any query), for a caller that
        sends the router token itself (``Authorization: Bearer …``)."""
        return self._url(self._route.url(), port, path)

    def request(
        self,
        port: int,
        method: str = "GET",
        path: str = "/",
        *,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Sends ``method path`` to ``port`` in the sandbox through the router, with this handle's
        token; the sandbox's response (any status) is returned read."""
        path = _ops.port_path(self._claim, port, path)
        return self._sb._http.request(method.upper(), path, **_request_kwargs(method, body, headers, timeout))

    def get(
        self, port: int, path: str = "/", *, headers: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> httpx.Response:
        return self.request(port, "GET", path, headers=headers, timeout=timeout)

    def preview(self, port: int, *, ttl_seconds: int | None = None) -> PreviewLink:
        """A signed link (``url``, ``expires_at``) that opens ``port`` without a token until it expires."""
        return self._sb._call(_ops.mint_preview(self._claim, self._route.url(), port, ttl_seconds))


class AsyncPorts(_PortsBase):
    """The asyncio form of :class:`Ports`."""

    def __init__(self, sandbox: AsyncSandbox) -> None:
        super().__init__(sandbox._p.route, sandbox.namespace, sandbox.name)
        self._sb = sandbox

    async def _base(self) -> str:
        # A dev tunnel may need restarting (a blocking kubectl start): off the event loop.
        return await asyncio.to_thread(self._route.url) if self._route.tunnel is not None else self._route.url()

    async def url(self, port: int, path: str = "/") -> str:
        return self._url(await self._base(), port, path)

    async def request(
        self,
        port: int,
        method: str = "GET",
        path: str = "/",
        *,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        path = _ops.port_path(self._claim, port, path)
        return await self._sb._http.request(method.upper(), path, **_request_kwargs(method, body, headers, timeout))

    async def get(
        self, port: int, path: str = "/", *, headers: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> httpx.Response:
        return await self.request(port, "GET", path, headers=headers, timeout=timeout)

    async def preview(self, port: int, *, ttl_seconds: int | None = None) -> PreviewLink:
        return await self._sb._call(_ops.mint_preview(self._claim, await self._base(), port, ttl_seconds))
