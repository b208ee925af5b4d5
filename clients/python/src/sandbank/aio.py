"""``AsyncSandbox``: :class:`sandbank.Sandbox` on asyncio, with the same methods as coroutines.

    async with await AsyncSandbox.create("python-runtime") as sb:
        print((await sb.commands.run("echo hi")).stdout)

Claiming and waiting use the (synchronous) Kubernetes client in a worker thread; HTTP and the
exec stream are native asyncio (httpx, websockets).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import IO, TypeVar

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from . import _ops
from ._http import AsyncHttp
from ._lifecycle import Connection, Provisioned, claim_spec, connection_options, provision, release
from ._protocol import (
    EXEC_SUBPROTOCOL,
    Command,
    CommandResult,
    FileInfo,
    auth_headers,
    error_from_response,
    start_frame,
    v1_prefix,
    ws_url,
)
from .errors import NotFound, RouterUnavailable
from .process import AsyncProcess
from .sandbox import CHUNK_BYTES, WS_MAX_MESSAGE_BYTES, _body

T = TypeVar("T")


class AsyncSandbox:
    """The asyncio form of :class:`sandbank.Sandbox` (see there for the arguments)."""

    def __init__(self, provisioned: Provisioned) -> None:
        self._p = provisioned
        self._http = AsyncHttp(provisioned.route)
        self._prefix = v1_prefix(provisioned.namespace, provisioned.name)
        self._closed = False
        self.commands = AsyncCommands(self)
        self.files = AsyncFiles(self)

    @property
    def name(self) -> str:
        return self._p.name

    @property
    def namespace(self) -> str:
        return self._p.namespace

    @property
    def mode(self) -> str:
        return self._p.route.mode.value

    @classmethod
    async def create(
        cls,
        template: str | None = None,
        *,
        namespace: str = "default",
        warmpool: str | None = None,
        ready_timeout: float = 180.0,
        shutdown_after_seconds: float | None = None,
        labels: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        api_url: str | None = None,
        gateway_name: str | None = None,
        token: str | None = None,
        connection: Connection | None = None,
    ) -> AsyncSandbox:
        spec = claim_spec(template, warmpool, shutdown_after_seconds, labels, env)
        opts = connection_options(connection, api_url, gateway_name, token)
        return cls(await _in_thread(lambda: provision(opts, namespace, spec, ready_timeout=ready_timeout)))

    @classmethod
    async def attach(
        cls,
        name: str,
        *,
        namespace: str = "default",
        ready_timeout: float = 30.0,
        api_url: str | None = None,
        gateway_name: str | None = None,
        token: str | None = None,
        connection: Connection | None = None,
    ) -> AsyncSandbox:
        opts = connection_options(connection, api_url, gateway_name, token)
        return cls(await _in_thread(lambda: provision(opts, namespace, None, attach=name, ready_timeout=ready_timeout)))

    async def close(self) -> None:
        await self._finish(delete=self._p.owned)

    async def detach(self) -> None:
        await self._finish(delete=False)

    async def terminate(self) -> None:
        await self._finish(delete=True)

    async def _finish(self, delete: bool) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._http.close()
        finally:
            await asyncio.shield(asyncio.to_thread(release, self._p, delete))

    async def __aenter__(self) -> AsyncSandbox:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, call: _ops.Call[T]) -> T:
        return call.parse(await self._http.request(call.method, call.path, **call.kwargs()))


async def _in_thread(fn: Callable[[], Provisioned]) -> Provisioned:
    """Runs a provisioning step in a thread; if the awaiting task is cancelled, the claim the step
    creates is still cleaned up by the step itself (it deletes on any failure) or here."""
    task = asyncio.ensure_future(asyncio.to_thread(fn))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        provisioned = await task
        await asyncio.to_thread(release, provisioned, provisioned.owned)
        raise


class AsyncCommands:
    def __init__(self, sandbox: AsyncSandbox) -> None:
        self._sb = sandbox

    async def run(
        self,
        command: Command,
        *,
        stdin: bytes | str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
        max_output_bytes: int | None = None,
    ) -> CommandResult:
        return await self._sb._call(
            _ops.run(
                self._sb._prefix,
                command,
                stdin=stdin,
                env=env,
                cwd=cwd,
                timeout=timeout,
                max_output_bytes=max_output_bytes,
            )
        )

    async def spawn(
        self,
        command: Command,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
        stdin: bool = True,
        max_output_bytes: int | None = None,
    ) -> AsyncProcess:
        frame = start_frame(command, env=env, cwd=cwd, timeout=timeout, stdin=stdin, max_output_bytes=max_output_bytes)
        route = self._sb._p.route
        base = await asyncio.to_thread(route.url) if route.tunnel is not None else route.url()
        try:
            ws = await ws_connect(
                ws_url(base) + self._sb._prefix + "/exec",
                subprotocols=[EXEC_SUBPROTOCOL],  # type: ignore[list-item]
                additional_headers=auth_headers(route.token),
                max_size=WS_MAX_MESSAGE_BYTES,
                open_timeout=30,
            )
        except InvalidStatus as e:
            r = e.response
            raise error_from_response(r.status_code, dict(r.headers.raw_items()), bytes(r.body or b"")) from None
        except OSError as e:
            raise RouterUnavailable(f"router unreachable for exec streaming: {e}") from e
        await ws.send(frame)
        return await AsyncProcess(ws)._started()


class AsyncFiles:
    def __init__(self, sandbox: AsyncSandbox) -> None:
        self._sb = sandbox

    async def read(self, path: str) -> bytes:
        return b"".join([chunk async for chunk in self.iter_read(path)])

    async def read_text(self, path: str, encoding: str = "utf-8") -> str:
        return (await self.read(path)).decode(encoding)

    async def iter_read(self, path: str, chunk_size: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
        async with self._sb._http.stream("GET", _ops.read_path(self._sb._prefix, path), idempotent=True) as r:
            async for chunk in r.aiter_bytes(chunk_size):
                yield chunk

    async def download(self, path: str, local_path: str | os.PathLike[str]) -> int:
        written = 0
        with open(local_path, "wb") as out:
            async for chunk in self.iter_read(path):
                await asyncio.to_thread(out.write, chunk)
                written += len(chunk)
        return written

    async def write(
        self,
        path: str,
        data: bytes | str | IO[bytes] | Iterable[bytes],
        *,
        mode: int | None = None,
        create_parents: bool = True,
    ) -> FileInfo:
        content, replayable = _body(data)
        if not replayable:
            content = _async_chunks(content)
        return await self._sb._call(
            _ops.write(self._sb._prefix, path, content, mode=mode, create_parents=create_parents, replayable=replayable)
        )

    async def upload(self, local_path: str | os.PathLike[str], path: str, *, mode: int | None = None) -> FileInfo:
        with open(local_path, "rb") as f:
            return await self.write(path, f, mode=mode)

    async def list(self, path: str = ".") -> list[FileInfo]:
        return await self._sb._call(_ops.list_dir(self._sb._prefix, path))

    async def stat(self, path: str) -> FileInfo:
        return await self._sb._call(_ops.stat(self._sb._prefix, path))

    async def exists(self, path: str) -> bool:
        try:
            await self.stat(path)
            return True
        except NotFound:
            return False

    async def remove(self, path: str, *, recursive: bool = False) -> None:
        await self._sb._call(_ops.remove(self._sb._prefix, path, recursive))

    async def mkdir(self, path: str, *, parents: bool = True, mode: int | None = None) -> FileInfo:
        return await self._sb._call(_ops.mkdir(self._sb._prefix, path, parents, mode))


async def _async_chunks(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    """httpx.AsyncClient needs an async body; file reads go to a thread so the loop never blocks."""
    it = iter(chunks)
    sentinel = b""
    while True:
        chunk = await asyncio.to_thread(next, it, sentinel)
        if not chunk:
            return
        yield chunk
