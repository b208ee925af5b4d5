"""Background processes: commands the sandbox's agent runs detached, that outlive the connection,
the client and the router; their output is kept in a ring (8 MiB by default) addressed by byte
offsets, which any client of the claim can read from any retained offset.

``sandbox.commands.start(...)`` returns a :class:`BackgroundProcess` (its ``id`` is what another
client attaches to); ``commands.list/get/attach/write_stdin/signal/resize/wait/remove`` take an
id. :class:`ProcessCommands` (sync) and :class:`AsyncProcessCommands` are the part of
``sandbox.commands`` that does this; every request is built once in ``_ops``.

Attaching reads the output as :class:`ProcessOutput` chunks with their offsets. A connection that
is cut (a router restarting, a session reaching its lifetime) is resumed from the attachment's
``next_offset``; to resume later, or from another process, attach with
``from_offset=attachment.next_offset``: nothing still retained is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Mapping
from typing import TYPE_CHECKING

import httpx

from . import _attach, _ops
from ._attach import AttachCursor, FrameDecoder, ProcessInfo, ProcessOutput
from ._protocol import Command, CommandResult, terminal_size

if TYPE_CHECKING:
    from ._http import AsyncHttp, SyncHttp
    from .aio import AsyncSandbox
    from .sandbox import Sandbox


def _start_call(
    prefix: str,
    command: Command,
    env: Mapping[str, str] | None,
    cwd: str | None,
    timeout: float | None,
    stdin: bool | None,
    pty: bool,
    rows: int,
    cols: int,
) -> _ops.Call[ProcessInfo]:
    """``start``'s request; ``stdin`` defaults to open exactly with a terminal (keystrokes)."""
    tty = terminal_size(rows, cols) if pty else None
    return _ops.start_process(
        prefix, command, env=env, cwd=cwd, timeout=timeout, stdin=pty if stdin is None else stdin, tty=tty
    )


def _stalled(r: httpx.Response) -> httpx.ReadTimeout:
    return httpx.ReadTimeout(
        f"the router sent part of an attach frame, then nothing for {_attach.FRAME_STALL_TIMEOUT_S} s",
        request=r.request,
    )


def _body(r: httpx.Response, decoder: FrameDecoder) -> Iterator[bytes]:
    """``r``'s body as it arrives; a read that waits ``FRAME_STALL_TIMEOUT_S`` inside a frame
    raises httpx.ReadTimeout. A blocking read cannot be timed out from its own thread, and the
    connection's read timeout is fixed when the body starts: a timer shuts the socket down under
    the read instead (a shutdown, unlike a close, wakes it). One timer thread per read, and only
    while a frame is partial; a transport without a socket (a test's mock) has no limit."""
    stream = r.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    stalled = threading.Event()

    def cut_off(target: socket.socket) -> None:
        stalled.set()
        with contextlib.suppress(OSError):
            # The plain socket's shutdown: an SSLSocket's own would drop its TLS state under the read.
            socket.socket.shutdown(target, socket.SHUT_RDWR)

    chunks = r.iter_bytes()
    while True:
        timer = None
        if decoder.partial and isinstance(sock, socket.socket):
            timer = threading.Timer(_attach.FRAME_STALL_TIMEOUT_S, cut_off, args=(sock,))
            timer.daemon = True
            timer.start()
        try:
            data = next(chunks, None)
        except httpx.TransportError:
            if stalled.is_set():
                raise _stalled(r) from None
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if stalled.is_set():
            raise _stalled(r)
        if data is None:
            return
        yield data


async def _abody(r: httpx.Response, decoder: FrameDecoder) -> AsyncIterator[bytes]:
    """The asyncio form of :func:`_body` (a read is cancelled at the limit)."""
    chunks = r.aiter_bytes()
    while True:
        try:
            if decoder.partial:
                data = await asyncio.wait_for(chunks.__anext__(), _attach.FRAME_STALL_TIMEOUT_S)
            else:
                data = await chunks.__anext__()
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            raise _stalled(r) from None
        yield data


class _Attachment:
    """What the sync and async attachments show: where reading started and stands, and the exit."""

    _cursor: AttachCursor

    @property
    def start_offset(self) -> int:
        """Where reading started: the offset asked for, or the first retained byte when that one was dropped."""
        assert self._cursor.attached is not None
        return self._cursor.attached.start_offset

    @property
    def bytes_dropped(self) -> bool:
        """True when bytes from the requested offset were dropped (the ring was full): reading
        started at :attr:`start_offset` instead."""
        assert self._cursor.attached is not None
        return self._cursor.attached.bytes_dropped

    @property
    def process(self) -> ProcessInfo:
        """The process as it was when the attachment started."""
        assert self._cursor.attached is not None
        return self._cursor.attached.process

    @property
    def next_offset(self) -> int:
        """One past the last byte received: ``from_offset`` for a later attach to resume."""
        return self._cursor.next_offset

    @property
    def exit(self) -> CommandResult | None:
        """How the process ended, once the stream said so (output fields empty)."""
        return self._cursor.exit


class ProcessAttachment(_Attachment):
    """The output of a background process from an offset: iterate for :class:`ProcessOutput`
    chunks (a gap between one chunk's ``end`` and the next ``offset``: bytes the ring dropped).
    Iteration ends at the exit (``follow=True``) or at the bytes retained when it started."""

    def __init__(self, http: SyncHttp, path: str, cursor: AttachCursor) -> None:
        self._http = http
        self._path = path
        self._cursor = cursor
        self._events = self._read()
        try:
            while cursor.attached is None:  # the first connection's `attached` frame, or its error
                next(self._events)
        except BaseException:
            self.close()
            raise

    def _read(self) -> Generator[ProcessOutput | None, None, None]:
        cursor = self._cursor
        while True:
            cut = False
            try:
                with self._http.stream("GET", self._path, idempotent=True, params=cursor.params()) as r:
                    decoder = cursor.connect(r.headers.get("content-type", ""))
                    for data in _body(r, decoder):
                        for event in decoder.feed(data):
                            yield cursor.take(event)
                    decoder.end()
            except httpx.TransportError:
                cut = True
            if cursor.finished(cut):
                return

    def __iter__(self) -> Generator[ProcessOutput, None, None]:
        for chunk in self._events:
            if chunk is not None:
                yield chunk

    def close(self) -> None:
        """Stops reading (the process runs on)."""
        self._events.close()

    def __enter__(self) -> ProcessAttachment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncProcessAttachment(_Attachment):
    """The asyncio form of :class:`ProcessAttachment` (``async for``)."""

    def __init__(self, http: AsyncHttp, path: str, cursor: AttachCursor) -> None:
        self._http = http
        self._path = path
        self._cursor = cursor
        self._events = self._read()

    async def _open(self) -> AsyncProcessAttachment:
        try:
            while self._cursor.attached is None:
                await self._events.__anext__()
        except BaseException:
            await self.close()
            raise
        return self

    async def _read(self) -> AsyncGenerator[ProcessOutput | None, None]:
        cursor = self._cursor
        while True:
            cut = False
            try:
                async with self._http.stream("GET", self._path, idempotent=True, params=cursor.params()) as r:
                    decoder = cursor.connect(r.headers.get("content-type", ""))
                    async for data in _abody(r, decoder):
                        for event in decoder.feed(data):
                            yield cursor.take(event)
                    decoder.end()
            except httpx.TransportError:
                cut = True
            if cursor.finished(cut):
                return

    async def __aiter__(self) -> AsyncGenerator[ProcessOutput, None]:
        async for chunk in self._events:
            if chunk is not None:
                yield chunk

    async def close(self) -> None:
        await self._events.aclose()

    async def __aenter__(self) -> AsyncProcessAttachment:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class ProcessCommands:
    """Background processes, as part of ``sandbox.commands``."""

    _sb: Sandbox

    def start(
        self,
        command: Command,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
        stdin: bool | None = None,
        pty: bool = False,
        rows: int = 24,
        cols: int = 80,
    ) -> BackgroundProcess:
        """Starts ``command`` detached: it runs until it exits (or ``timeout`` seconds pass),
        whoever is connected. ``stdin`` keeps its stdin open for :meth:`write_stdin` (default:
        with ``pty`` only). ``pty=True`` runs it on a ``rows`` x ``cols`` terminal (one output
        stream, as stdout). The agent's limits (processes, retained output) raise
        ``ResourceExhausted`` naming the limit."""
        call = _start_call(self._sb._prefix, command, env, cwd, timeout, stdin, pty, rows, cols)
        return BackgroundProcess(self, self._sb._call(call))

    def list(self) -> list[ProcessInfo]:
        """Every process the agent retains, running or exited."""
        return self._sb._call(_ops.list_processes(self._sb._prefix))

    def get(self, process_id: str) -> ProcessInfo:
        return self._sb._call(_ops.get_process(self._sb._prefix, process_id))

    def handle(self, process_id: str) -> BackgroundProcess:
        """A :class:`BackgroundProcess` for an id (from :meth:`list`, or another client)."""
        return BackgroundProcess(self, self.get(process_id))

    def attach(self, process_id: str, *, from_offset: int = 0, follow: bool = True) -> ProcessAttachment:
        """Reads the output from ``from_offset``; ``follow`` waits for more until the exit."""
        cursor = AttachCursor(process_id, from_offset, follow)
        return ProcessAttachment(self._sb._http, _ops.attach_path(self._sb._prefix, process_id), cursor)

    def write_stdin(self, process_id: str, data: bytes | str, *, close: bool = False) -> None:
        """Writes to its stdin (started with ``stdin=True``); ``close`` sends EOF after."""
        self._sb._call(_ops.write_stdin(self._sb._prefix, process_id, data, close))

    def signal(self, process_id: str, signal: str = "SIGTERM") -> None:
        """SIGHUP, SIGINT, SIGTERM or SIGKILL to its process group."""
        self._sb._call(_ops.signal_process(self._sb._prefix, process_id, signal))

    def resize(self, process_id: str, rows: int, cols: int) -> None:
        """New terminal size of a process started with ``pty=True``."""
        self._sb._call(_ops.resize_process(self._sb._prefix, process_id, rows, cols))

    def wait(self, process_id: str, timeout: float | None = None) -> ProcessInfo:
        """Waits until it exited (``info.exit``); raises CommandTimeout after ``timeout`` seconds
        (the process runs on)."""
        waiting = _ops.ProcessWait(self._sb._prefix, process_id, timeout)
        while (call := waiting.next_call()) is not None:
            info = self._sb._call(call)
            if not info.running:
                return info
        raise waiting.expired()

    def remove(self, process_id: str) -> None:
        """Forgets an exited process and its output (``FailedPrecondition`` while it runs)."""
        self._sb._call(_ops.remove_process(self._sb._prefix, process_id))


class AsyncProcessCommands:
    """The asyncio form of :class:`ProcessCommands`."""

    _sb: AsyncSandbox

    async def start(
        self,
        command: Command,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
        stdin: bool | None = None,
        pty: bool = False,
        rows: int = 24,
        cols: int = 80,
    ) -> AsyncBackgroundProcess:
        call = _start_call(self._sb._prefix, command, env, cwd, timeout, stdin, pty, rows, cols)
        return AsyncBackgroundProcess(self, await self._sb._call(call))

    async def list(self) -> list[ProcessInfo]:
        return await self._sb._call(_ops.list_processes(self._sb._prefix))

    async def get(self, process_id: str) -> ProcessInfo:
        return await self._sb._call(_ops.get_process(self._sb._prefix, process_id))

    async def handle(self, process_id: str) -> AsyncBackgroundProcess:
        return AsyncBackgroundProcess(self, await self.get(process_id))

    async def attach(self, process_id: str, *, from_offset: int = 0, follow: bool = True) -> AsyncProcessAttachment:
        cursor = AttachCursor(process_id, from_offset, follow)
        path = _ops.attach_path(self._sb._prefix, process_id)
        return await AsyncProcessAttachment(self._sb._http, path, cursor)._open()

    async def write_stdin(self, process_id: str, data: bytes | str, *, close: bool = False) -> None:
        await self._sb._call(_ops.write_stdin(self._sb._prefix, process_id, data, close))

    async def signal(self, process_id: str, signal: str = "SIGTERM") -> None:
        await self._sb._call(_ops.signal_process(self._sb._prefix, process_id, signal))

    async def resize(self, process_id: str, rows: int, cols: int) -> None:
        await self._sb._call(_ops.resize_process(self._sb._prefix, process_id, rows, cols))

    async def wait(self, process_id: str, timeout: float | None = None) -> ProcessInfo:
        waiting = _ops.ProcessWait(self._sb._prefix, process_id, timeout)
        while (call := waiting.next_call()) is not None:
            info = await self._sb._call(call)
            if not info.running:
                return info
        raise waiting.expired()

    async def remove(self, process_id: str) -> None:
        await self._sb._call(_ops.remove_process(self._sb._prefix, process_id))


class BackgroundProcess:
    """A background process by id; ``info`` is how it was when last asked (:meth:`refresh`)."""

    def __init__(self, commands: ProcessCommands, info: ProcessInfo) -> None:
        self._commands = commands
        self.info = info

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def pid(self) -> int:
        return self.info.pid

    def refresh(self) -> ProcessInfo:
        self.info = self._commands.get(self.id)
        return self.info

    def attach(self, *, from_offset: int = 0, follow: bool = True) -> ProcessAttachment:
        return self._commands.attach(self.id, from_offset=from_offset, follow=follow)

    def write_stdin(self, data: bytes | str, *, close: bool = False) -> None:
        self._commands.write_stdin(self.id, data, close=close)

    def close_stdin(self) -> None:
        self._commands.write_stdin(self.id, b"", close=True)

    def signal(self, signal: str = "SIGTERM") -> None:
        self._commands.signal(self.id, signal)

    def kill(self) -> None:
        self._commands.signal(self.id, "SIGKILL")

    def resize(self, rows: int, cols: int) -> None:
        self._commands.resize(self.id, rows, cols)

    def wait(self, timeout: float | None = None) -> ProcessInfo:
        self.info = self._commands.wait(self.id, timeout)
        return self.info

    def remove(self) -> None:
        self._commands.remove(self.id)

    def __repr__(self) -> str:
        return f"BackgroundProcess(id={self.id!r}, state={self.info.state!r})"


class AsyncBackgroundProcess:
    """The asyncio form of :class:`BackgroundProcess`."""

    def __init__(self, commands: AsyncProcessCommands, info: ProcessInfo) -> None:
        self._commands = commands
        self.info = info

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def pid(self) -> int:
        return self.info.pid

    async def refresh(self) -> ProcessInfo:
        self.info = await self._commands.get(self.id)
        return self.info

    async def attach(self, *, from_offset: int = 0, follow: bool = True) -> AsyncProcessAttachment:
        return await self._commands.attach(self.id, from_offset=from_offset, follow=follow)

    async def write_stdin(self, data: bytes | str, *, close: bool = False) -> None:
        await self._commands.write_stdin(self.id, data, close=close)

    async def close_stdin(self) -> None:
        await self._commands.write_stdin(self.id, b"", close=True)

    async def signal(self, signal: str = "SIGTERM") -> None:
        await self._commands.signal(self.id, signal)

    async def kill(self) -> None:
        await self._commands.signal(self.id, "SIGKILL")

    async def resize(self, rows: int, cols: int) -> None:
        await self._commands.resize(self.id, rows, cols)

    async def wait(self, timeout: float | None = None) -> ProcessInfo:
        self.info = await self._commands.wait(self.id, timeout)
        return self.info

    async def remove(self) -> None:
        await self._commands.remove(self.id)

    def __repr__(self) -> str:
        return f"AsyncBackgroundProcess(id={self.id!r}, state={self.info.state!r})"
