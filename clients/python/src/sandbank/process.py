"""Streaming exec over the router's WebSocket (subprotocol ``sandbank.exec.v1``).

``Process`` (sync, ``websockets.sync``) and ``AsyncProcess`` (asyncio) share the frame decoding
below. Iterating a process yields :class:`Output` chunks as they arrive; ``wait()`` returns the
:class:`CommandResult` with whatever output was not iterated. A process spawned with a terminal
(``pty=True``) sends its raw terminal bytes as stdout only and takes ``resize``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Literal

from websockets.asyncio.client import ClientConnection as AsyncConnection
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from ._protocol import CLOSE_STDIN_FRAME, CommandResult, error_from_close, parse_exit, resize_frame, signal_frame
from .errors import CommandTimeout, RouterError, StreamClosed, error_for_code

STDOUT, STDERR = 1, 2


@dataclass(frozen=True)
class Output:
    """A chunk of the process's output as it arrived."""

    stream: Literal["stdout", "stderr"]
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode(errors="replace")


@dataclass(frozen=True)
class _Started:
    pid: int


@dataclass(frozen=True)
class _Exited:
    frame: dict[str, object]


Event = Output | _Started | _Exited


def decode_frame(message: str | bytes) -> Event:
    """One server frame: binary = 1-byte stream id + bytes; text = JSON started/exit/error."""
    if isinstance(message, (bytes, bytearray, memoryview)):
        raw = bytes(message)
        if not raw or raw[0] not in (STDOUT, STDERR):
            raise StreamClosed(f"unexpected binary frame from the router (first byte {raw[:1]!r})")
        return Output("stdout" if raw[0] == STDOUT else "stderr", raw[1:])
    frame = json.loads(message)
    kind = frame.get("type")
    if kind == "started":
        return _Started(int(frame.get("pid") or 0))
    if kind == "exit":
        return _Exited(frame)
    if kind == "error":
        raise error_for_code(str(frame.get("code") or ""), f"router: {frame.get('message', '')}")
    raise StreamClosed(f"unexpected frame from the router: {message[:200]!r}")


class _Collected:
    """Output not handed to the caller yet, and the exit once it came."""

    def __init__(self) -> None:
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.result: CommandResult | None = None
        self.pid = 0

    def take(self, event: Event, keep: bool) -> Output | None:
        if isinstance(event, Output):
            if keep:
                (self.stdout if event.stream == "stdout" else self.stderr).extend(event.data)
                return None
            return event
        if isinstance(event, _Started):
            self.pid = event.pid
        else:
            self.result = parse_exit(event.frame, bytes(self.stdout), bytes(self.stderr))
        return None


def _resize(pty: bool, rows: int, cols: int) -> str:
    if not pty:
        raise ValueError("resize: this process has no terminal (spawn it with pty=True)")
    return resize_frame(rows, cols)


def _closed_error(e: ConnectionClosed) -> RouterError | StreamClosed:
    rcvd = e.rcvd
    if rcvd is not None and rcvd.code not in (1000,):
        return error_from_close(rcvd.code, rcvd.reason)
    return StreamClosed("the exec stream closed before the process exited")


class Process:
    """A running command. Iterate it for output; ``send_stdin``, ``close_stdin``, ``signal``, ``wait``."""

    def __init__(self, ws: ClientConnection, pty: bool = False) -> None:
        self._ws = ws
        self._pty = pty
        self._state = _Collected()
        self._next(keep=True)  # the `started` frame (an `error` frame raises here)

    @property
    def pid(self) -> int:
        return self._state.pid

    @property
    def result(self) -> CommandResult | None:
        return self._state.result

    def _next(self, keep: bool, timeout: float | None = None) -> Output | None:
        try:
            message = self._ws.recv(timeout=timeout)
        except TimeoutError:
            raise
        except ConnectionClosed as e:
            raise _closed_error(e) from None
        return self._state.take(decode_frame(message), keep)

    def __iter__(self) -> Iterator[Output]:
        while self._state.result is None:
            chunk = self._next(keep=False)
            if chunk is not None:
                yield chunk

    def send_stdin(self, data: bytes | str) -> None:
        """Writes to the process's stdin (needs ``stdin=True`` at spawn, the default)."""
        self._ws.send(data.encode() if isinstance(data, str) else bytes(data))

    def close_stdin(self) -> None:
        self._ws.send(CLOSE_STDIN_FRAME)

    def signal(self, signal: str = "SIGTERM") -> None:
        """SIGHUP, SIGINT, SIGTERM or SIGKILL to the process group."""
        self._ws.send(signal_frame(signal))

    def kill(self) -> None:
        self.signal("SIGKILL")

    def resize(self, rows: int, cols: int) -> None:
        """New terminal size (``pty=True`` only); the process gets SIGWINCH."""
        self._ws.send(_resize(self._pty, rows, cols))

    def wait(self, timeout: float | None = None) -> CommandResult:
        """Waits for the exit; output not iterated yet is collected into the result.
        Raises CommandTimeout if ``timeout`` seconds pass first (the process keeps running)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._state.result is None:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise CommandTimeout(f"process {self.pid} still running after {timeout:g} s")
            try:
                self._next(keep=True, timeout=remaining)
            except TimeoutError:
                raise CommandTimeout(f"process {self.pid} still running after {timeout:g} s") from None
        self.close()
        return self._state.result

    def close(self) -> None:
        """Closes the stream; a process still running is killed by the agent."""
        self._ws.close()

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncProcess:
    """The asyncio form of :class:`Process`: ``async for``, ``await wait()``."""

    def __init__(self, ws: AsyncConnection, pty: bool = False) -> None:
        self._ws = ws
        self._pty = pty
        self._state = _Collected()

    async def _started(self) -> AsyncProcess:
        await self._next(keep=True)
        return self

    @property
    def pid(self) -> int:
        return self._state.pid

    @property
    def result(self) -> CommandResult | None:
        return self._state.result

    async def _next(self, keep: bool) -> Output | None:
        try:
            message = await self._ws.recv()
        except ConnectionClosed as e:
            raise _closed_error(e) from None
        return self._state.take(decode_frame(message), keep)

    async def __aiter__(self) -> AsyncIterator[Output]:
        while self._state.result is None:
            chunk = await self._next(keep=False)
            if chunk is not None:
                yield chunk

    async def send_stdin(self, data: bytes | str) -> None:
        await self._ws.send(data.encode() if isinstance(data, str) else bytes(data))

    async def close_stdin(self) -> None:
        await self._ws.send(CLOSE_STDIN_FRAME)

    async def signal(self, signal: str = "SIGTERM") -> None:
        await self._ws.send(signal_frame(signal))

    async def kill(self) -> None:
        await self.signal("SIGKILL")

    async def resize(self, rows: int, cols: int) -> None:
        await self._ws.send(_resize(self._pty, rows, cols))

    async def wait(self, timeout: float | None = None) -> CommandResult:
        async def drain() -> CommandResult:
            while self._state.result is None:
                await self._next(keep=True)
            return self._state.result

        try:
            result = await asyncio.wait_for(drain(), timeout)
        except asyncio.TimeoutError:
            raise CommandTimeout(f"process {self.pid} still running after {timeout:g} s") from None
        await self.close()
        return result

    async def close(self) -> None:
        await self._ws.close()

    async def __aenter__(self) -> AsyncProcess:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
