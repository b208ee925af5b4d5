"""HTTP to the router with one retry policy, for the sync (``httpx.Client``) and async
(``httpx.AsyncClient``) clients.

Retries are safe by construction: a request is sent again only when it provably never reached
the sandbox (connection refused, a dev tunnel that died and was restarted, or a router answer
whose code says so: not ready yet, too many streams, agent unreachable, router shutting down),
or when it is idempotent (reads, stat, list) and failed on the way. So ``run`` never executes
twice, unlike agent-sandbox's client, which retried POST /execute on any 5xx.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx

from ._protocol import RETRY_SAFE_CODES, auth_headers, error_from_response
from ._route import Route
from ._transport import CA_FILE_ENV
from .errors import RouterError, RouterUnavailable

#: Attempts per request, and the first back-off (doubled each time, capped): about 3 s in all,
#: enough to ride over a router replica restarting; longer outages surface as errors.
ATTEMPTS = 6
FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 1.0
#: Connect timeout: the router is close by; a long wait means it is not there.
CONNECT_TIMEOUT_S = 10.0

_CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)
_TRANSFER_ERRORS = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadTimeout)


def backoff(attempt: int, retry_after: str | None = None) -> float:
    if retry_after and retry_after.isdigit():
        return float(min(float(retry_after), MAX_BACKOFF_S * 2))
    return float(min(FIRST_BACKOFF_S * (2**attempt), MAX_BACKOFF_S))


def retry_decision(
    attempt: int, *, error: BaseException | None, status_error: RouterError | None, idempotent: bool
) -> bool:
    """Whether attempt number ``attempt`` (0-based) may be followed by another."""
    if attempt + 1 >= ATTEMPTS:
        return False
    if status_error is not None:
        return status_error.error_code in RETRY_SAFE_CODES
    if isinstance(error, _CONNECT_ERRORS):
        return not certificate_rejected(error)
    return idempotent and isinstance(error, _TRANSFER_ERRORS)


def _timeout(seconds: float | None) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=CONNECT_TIMEOUT_S)


def certificate_rejected(error: BaseException) -> bool:
    """Whether ``error`` is the router's certificate failing verification: no retry will change that."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _unreachable(route: Route, e: BaseException) -> RouterUnavailable:
    where = route.url() if route.tunnel is None else "the dev tunnel"
    if route.note:
        where += f" ({route.note})"
    if certificate_rejected(e):
        return RouterUnavailable(
            f"router at {where}: its TLS certificate is not trusted ({e}); if it is signed by a private CA, "
            f"pass ca_file= (Connection(ca_file=...)) or set {CA_FILE_ENV}"
        )
    return RouterUnavailable(f"router at {where} unreachable: {e}")


class Attempts:
    """The attempts of one request: after a failure, how long to wait before the next, or None
    when it must not be sent again (see :func:`retry_decision`)."""

    def __init__(self, *, idempotent: bool, replayable: bool) -> None:
        self.idempotent = idempotent
        self.replayable = replayable
        self.count = 0

    def _next(
        self, error: BaseException | None, status_error: RouterError | None, retry_after: str | None
    ) -> float | None:
        if not self.replayable or not retry_decision(
            self.count, error=error, status_error=status_error, idempotent=self.idempotent
        ):
            return None
        delay = backoff(self.count, retry_after)
        self.count += 1
        return delay

    def after_error(self, error: BaseException) -> float | None:
        return self._next(error, None, None)

    def after_status(self, error: RouterError, retry_after: str | None) -> float | None:
        return self._next(None, error, retry_after)


class _Http:
    """What the sync and async transports share: the route, the headers, how a request is built."""

    def __init__(self, route: Route, extra_headers: Mapping[str, str] | None) -> None:
        self.route = route
        self.headers = {**auth_headers(route.token), **(extra_headers or {})}

    def _build(
        self,
        client: httpx.Client | httpx.AsyncClient,
        base: str,
        method: str,
        path: str,
        headers: Mapping[str, str] | None,
        timeout: float | None,
        kwargs: dict[str, Any],
    ) -> httpx.Request:
        return client.build_request(
            method, base + path, headers={**self.headers, **(headers or {})}, timeout=_timeout(timeout), **kwargs
        )


def refused(response: httpx.Response, sandbox_answers: bool) -> bool:
    """Whether ``response`` is an error to raise. ``sandbox_answers``: the request went through to a
    sandbox's own server (a port route), whose 4xx/5xx are its answer; only the router's own
    refusals, which carry its error code header, are errors then (the router drops ``X-Sandbank-*``
    from what a sandbox sends, so a sandbox cannot fake one)."""
    if response.status_code < 400:
        return False
    return not sandbox_answers or "x-sandbank-error-code" in response.headers


class SyncHttp(_Http):
    def __init__(self, route: Route, extra_headers: Mapping[str, str] | None = None) -> None:
        super().__init__(route, extra_headers)
        # Redirects are refused: a router never redirects, and following one could send the token elsewhere.
        self.client = httpx.Client(follow_redirects=False, timeout=_timeout(None), verify=route.tls)

    @contextlib.contextmanager
    def stream(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        replayable: bool = True,
        sandbox_answers: bool = False,
        **kwargs: Any,
    ) -> Iterator[httpx.Response]:
        """A request whose answer is read as a stream; raises the typed router error on a refusal
        (:func:`refused`)."""
        attempts = Attempts(idempotent=idempotent, replayable=replayable)
        while True:
            try:
                request = self._build(self.client, self.route.url(), method, path, headers, timeout, kwargs)
                response = self.client.send(request, stream=True)
            except httpx.HTTPError as e:
                if (delay := attempts.after_error(e)) is None:
                    raise _unreachable(self.route, e) from e
                self.route.recover()
                time.sleep(delay)
                continue
            if refused(response, sandbox_answers):
                body = response.read()
                response.close()
                err = error_from_response(
                    response.status_code, response.headers, body, token_sent=bool(self.route.token)
                )
                if (delay := attempts.after_status(err, response.headers.get("retry-after"))) is None:
                    raise err
                time.sleep(delay)
                continue
            try:
                yield response
            finally:
                response.close()
            return

    def request(
        self, method: str, path: str, *, idempotent: bool, timeout: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        """A buffered request: the whole body is read before returning."""
        with self.stream(method, path, idempotent=idempotent, timeout=timeout, **kwargs) as response:
            response.read()
            return response

    def close(self) -> None:
        self.client.close()


class AsyncHttp(_Http):
    def __init__(self, route: Route, extra_headers: Mapping[str, str] | None = None) -> None:
        super().__init__(route, extra_headers)
        self.client = httpx.AsyncClient(follow_redirects=False, timeout=_timeout(None), verify=route.tls)

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        replayable: bool = True,
        sandbox_answers: bool = False,
        **kwargs: Any,
    ) -> AsyncIterator[httpx.Response]:
        attempts = Attempts(idempotent=idempotent, replayable=replayable)
        while True:
            try:
                # A dev tunnel may need restarting (a blocking kubectl start): off the event loop.
                base = await asyncio.to_thread(self.route.url) if self.route.tunnel is not None else self.route.url()
                request = self._build(self.client, base, method, path, headers, timeout, kwargs)
                response = await self.client.send(request, stream=True)
            except httpx.HTTPError as e:
                if (delay := attempts.after_error(e)) is None:
                    raise _unreachable(self.route, e) from e
                await asyncio.to_thread(self.route.recover)
                await asyncio.sleep(delay)
                continue
            if refused(response, sandbox_answers):
                body = await response.aread()
                await response.aclose()
                err = error_from_response(
                    response.status_code, response.headers, body, token_sent=bool(self.route.token)
                )
                if (delay := attempts.after_status(err, response.headers.get("retry-after"))) is None:
                    raise err
                await asyncio.sleep(delay)
                continue
            try:
                yield response
            finally:
                await response.aclose()
            return

    async def request(
        self, method: str, path: str, *, idempotent: bool, timeout: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        async with self.stream(method, path, idempotent=idempotent, timeout=timeout, **kwargs) as response:
            await response.aread()
            return response

    async def close(self) -> None:
        await self.client.aclose()
