"""``AsyncSandbox``: :class:`sandbank.Sandbox` on asyncio, with the same methods as coroutines.

    async with await AsyncSandbox.create("python-runtime") as sb:
        print((await sb.commands.run("echo hi")).stdout)

Claiming and waiting use the (synchronous) Kubernetes client in a worker thread; HTTP and the
exec stream are native asyncio (httpx, websockets). Cancelling a task that creates or closes a
sandbox (Ctrl-C under ``asyncio.run``, a timeout) stops the worker, deletes the claim within a
few seconds, and then lets ``CancelledError`` propagate.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from types import TracebackType
from typing import IO, TypeVar

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from . import _ops
from ._http import AsyncHttp
from ._kube import Abort, Aborted, Kube
from ._lifecycle import (
    INTERRUPT_GRACE_S,
    Connection,
    Provisioned,
    claim_spec,
    connection_options,
    delete_bounded,
    interrupted,
    log,
    provision,
    release,
    release_quietly,
)
from ._protocol import (
    EXEC_SUBPROTOCOL,
    Command,
    CommandResult,
    FileInfo,
    auth_headers,
    error_from_response,
    start_frame,
    terminal_size,
    v1_prefix,
    ws_url,
)
from .background import AsyncProcessCommands
from .errors import NotFound, RouterUnavailable, SandbankError
from .ports import AsyncPorts
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
        self.ports = AsyncPorts(self)

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
        return cls._adopt(
            await _in_thread(lambda abort: provision(opts, namespace, spec, ready_timeout=ready_timeout, abort=abort))
        )

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
        return cls._adopt(
            await _in_thread(
                lambda abort: provision(opts, namespace, None, attach=name, ready_timeout=ready_timeout, abort=abort)
            )
        )

    @classmethod
    def _adopt(cls, provisioned: Provisioned) -> AsyncSandbox:
        try:
            return cls(provisioned)
        except BaseException as e:
            release_quietly(provisioned, urgent=interrupted(e))
            raise

    async def close(self) -> None:
        await self._finish(delete=self._p.owned)

    async def detach(self) -> None:
        await self._finish(delete=False)

    async def terminate(self) -> None:
        await self._finish(delete=True)

    async def _finish(self, delete: bool, urgent: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        hurry = Abort()
        try:
            await self._http.close()
        except asyncio.CancelledError:
            hurry.set()
            raise
        finally:
            # In a thread (the Kubernetes client blocks), shielded: a cancellation while it runs
            # only shortens its deadline, and CancelledError propagates once the claim is deleted.
            job = asyncio.ensure_future(asyncio.to_thread(release, self._p, delete, urgent=urgent, hurry=hurry))
            try:
                await asyncio.shield(job)
            except asyncio.CancelledError:
                hurry.set()
                await asyncio.wait({job})
                if not job.cancelled() and job.exception() is not None:
                    log.warning("%s", job.exception())
                raise

    async def __aenter__(self) -> AsyncSandbox:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._finish(delete=self._p.owned, urgent=exc is not None and interrupted(exc))

    async def _call(self, call: _ops.Call[T]) -> T:
        return call.parse(await self._http.request(call.method, call.path, **call.kwargs()))


async def _in_thread(step: Callable[[Abort], Provisioned]) -> Provisioned:
    """Runs a provisioning step in a worker thread. If the awaiting task is cancelled, the step is
    aborted (a watch it waits in is shut down), the claim it created is deleted — by the step on
    its way out, and from here too in case the step is stuck in a call nothing can wake — and
    then CancelledError propagates, within about INTERRUPT_GRACE_S."""
    loop = asyncio.get_running_loop()
    abort = Abort()
    done: asyncio.Future[Provisioned] = loop.create_future()
    # Retrieved even when nobody awaits it any more (the task was cancelled): no "never retrieved" noise.
    done.add_done_callback(lambda f: None if f.cancelled() else f.exception())

    def settle(result: Provisioned | None, error: BaseException | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            assert result is not None
            done.set_result(result)

    def run() -> None:
        result: Provisioned | None = None
        error: BaseException | None = None
        try:
            result = step(abort)
        except BaseException as e:
            error = e
        if result is not None and not abort.hand_over():
            # Aborted after the step finished: nobody takes the result; undo it here.
            release_quietly(result, urgent=True)
            result, error = None, Aborted("stopped: the task was cancelled")
        # A daemon thread (not the loop's executor): one stuck in a call cannot hold up the exit.
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody awaits the result
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="sandbank-provision", daemon=True).start()
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        await _abandon(done, abort)
        raise


async def _abandon(done: asyncio.Future[Provisioned], abort: Abort) -> None:
    """The task awaiting a provisioning step was cancelled: leave nothing behind."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + INTERRUPT_GRACE_S
    abort.set()
    if abort.handed_over:
        # The step had finished: its result is on the way; release it.
        await asyncio.wait({done}, timeout=INTERRUPT_GRACE_S)
        if done.done() and not done.cancelled() and done.exception() is None:
            p = done.result()
            await asyncio.to_thread(release_quietly, p, urgent=True)
        return
    claim = abort.claim
    if claim is not None:
        kube, namespace, name = claim
        # If this cannot delete it (the create may still be on its way), the step deletes it
        # itself when its create returns.
        await asyncio.to_thread(_delete_now, kube, namespace, name)
    # Either way the step's thread stops at its next check: give it until the deadline to end
    # (and to log what it must) before the loop, and perhaps the interpreter, ends — a daemon
    # thread still writing to stderr while Python finalizes can abort the whole process.
    await asyncio.wait({done}, timeout=max(0.0, deadline - loop.time()))


def _delete_now(kube: Kube, namespace: str, name: str) -> bool:
    """True if the claim was there and is now deleted."""
    try:
        return delete_bounded(kube, namespace, name, urgent=True)
    except SandbankError:
        return False


class AsyncCommands(AsyncProcessCommands):
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
        pty: bool = False,
        rows: int = 24,
        cols: int = 80,
    ) -> AsyncProcess:
        tty = terminal_size(rows, cols) if pty else None
        frame = start_frame(
            command, env=env, cwd=cwd, timeout=timeout, stdin=stdin, max_output_bytes=max_output_bytes, tty=tty
        )
        route = self._sb._p.route
        base = await asyncio.to_thread(route.url) if route.tunnel is not None else route.url()
        url = ws_url(base) + self._sb._prefix + "/exec"
        try:
            ws = await ws_connect(
                url,
                subprotocols=[EXEC_SUBPROTOCOL],  # type: ignore[list-item]
                additional_headers=auth_headers(route.token),
                ssl=route.ws_tls(url),
                max_size=WS_MAX_MESSAGE_BYTES,
                open_timeout=30,
            )
        except InvalidStatus as e:
            r = e.response
            headers = dict(r.headers.raw_items())
            raise error_from_response(
                r.status_code, headers, bytes(r.body or b""), token_sent=bool(route.token)
            ) from None
        except OSError as e:
            raise RouterUnavailable(f"router unreachable for exec streaming: {e}") from e
        await ws.send(frame)
        return await AsyncProcess(ws, pty)._started()


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
