"""``Sandbox``: a handle on one claimed sandbox, with ``commands``, ``files`` and ``ports``.

from sandbank import Sandbox

with Sandbox.create("python-runtime") as sb:
    print(sb.commands.run("echo hi").stdout)
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import IO, Any, TypeVar

from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from . import _ops
from ._http import SyncHttp
from ._lifecycle import (
    Connection,
    Provisioned,
    claim_spec,
    connection_options,
    interrupted,
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
from ._tls_socket import SerializedTLSClientConnection
from .background import ProcessCommands
from .errors import NotFound, RouterUnavailable
from .ports import Ports
from .process import Process

T = TypeVar("T")

#: Chunk size of streamed file transfers: large enough to keep syscalls and frames few, small
#: enough that a 1 GiB file never sits in memory.
CHUNK_BYTES = 1 << 20
#: Largest WebSocket message accepted from the router (its own default cap is 16 MiB).
WS_MAX_MESSAGE_BYTES = 16 << 20


def _body(data: bytes | str | IO[bytes] | Iterable[bytes]) -> tuple[Any, bool]:
    """What httpx sends, and whether it can be sent twice (bytes can; a stream cannot)."""
    if isinstance(data, str):
        return data.encode(), True
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data), True
    if isinstance(data, io.IOBase) or hasattr(data, "read"):
        stream: IO[bytes] = data  # type: ignore[assignment]
        return iter(lambda: stream.read(CHUNK_BYTES), b""), False
    return data, False


class Sandbox:
    """One sandbox, bound to a SandboxClaim. Create with :meth:`create`, or :meth:`attach` to an
    existing claim. Leaving a ``with`` block (also on an exception or Ctrl-C) deletes a claim this
    handle created; an attached claim is kept unless you call :meth:`terminate`."""

    def __init__(self, provisioned: Provisioned) -> None:
        self._p = provisioned
        self._http = SyncHttp(provisioned.route)
        self._prefix = v1_prefix(provisioned.namespace, provisioned.name)
        self._closed = False
        self.commands = Commands(self)
        self.files = Files(self)
        self.ports = Ports(self)

    @property
    def name(self) -> str:
        """The SandboxClaim's name (also its Sandbox's name, and what the router resolves)."""
        return self._p.name

    @property
    def namespace(self) -> str:
        return self._p.namespace

    @property
    def mode(self) -> str:
        """How the router is reached: ``direct``, ``gateway`` or ``dev``."""
        return self._p.route.mode.value

    @classmethod
    def create(
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
    ) -> Sandbox:
        """Claims a sandbox of ``template`` (warm from a pool when one is ready; ``warmpool`` names
        a pool, ``"none"`` forces a cold start) and waits until it is Ready.

        The router is reached directly at ``api_url``, through the Gateway ``gateway_name``, or
        otherwise by a ``kubectl port-forward`` this handle runs (dev mode). ``token`` is the
        router credential (default: ``$SANDBANK_ROUTER_TOKEN``, then in dev mode the router's
        token Secret; the kubeconfig's own token only as ``token=sandbank.kubernetes_token()``).
        ``connection`` holds the rarer knobs (``ca_file``, ``allow_insecure``, …)."""
        spec = claim_spec(template, warmpool, shutdown_after_seconds, labels, env)
        opts = connection_options(connection, api_url, gateway_name, token)
        return cls._open(lambda adopt: provision(opts, namespace, spec, ready_timeout=ready_timeout, on_ready=adopt))

    @classmethod
    def attach(
        cls,
        name: str,
        *,
        namespace: str = "default",
        ready_timeout: float = 30.0,
        api_url: str | None = None,
        gateway_name: str | None = None,
        token: str | None = None,
        connection: Connection | None = None,
    ) -> Sandbox:
        """A handle on the existing claim ``name`` (waits until it is Ready). Closing it keeps the claim."""
        opts = connection_options(connection, api_url, gateway_name, token)
        return cls._open(
            lambda adopt: provision(opts, namespace, None, attach=name, ready_timeout=ready_timeout, on_ready=adopt)
        )

    @classmethod
    def _open(cls, step: Callable[[Callable[[Provisioned], None]], Provisioned]) -> Sandbox:
        """The handle on what ``step`` provisions. ``step`` hands its result over before returning,
        so that if anything fails after (Ctrl-C as it returns, building the handle) it is released."""
        adopted: list[Provisioned] = []
        try:
            step(adopted.append)
            handle = cls(adopted[0])
        except BaseException as e:
            if adopted:
                release_quietly(adopted[0], urgent=interrupted(e))
            raise
        return handle

    def close(self) -> None:
        """Stops the route; deletes the claim if this handle created it. Idempotent."""
        self._finish(delete=self._p.owned)

    def detach(self) -> None:
        """Stops the route and keeps the claim (attach to it again later by name)."""
        self._finish(delete=False)

    def terminate(self) -> None:
        """Deletes the claim (its Sandbox and Pod follow) whoever created it."""
        self._finish(delete=True)

    def _finish(self, delete: bool, urgent: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._http.close()
        finally:
            release(self._p, delete, urgent=urgent)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Leaving on Ctrl-C: the claim is still deleted, with a short deadline.
        self._finish(delete=self._p.owned, urgent=exc is not None and interrupted(exc))

    def __repr__(self) -> str:
        return f"Sandbox(name={self.name!r}, namespace={self.namespace!r}, mode={self.mode!r})"

    def _call(self, call: _ops.Call[T]) -> T:
        return call.parse(self._http.request(call.method, call.path, **call.kwargs()))


class Commands(ProcessCommands):
    """Run commands in the sandbox: buffered (:meth:`run`), streamed (:meth:`spawn`), or in the
    background, outliving this connection (:meth:`start`, then by id: ``attach``, ``wait``, …)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox

    def run(
        self,
        command: Command,
        *,
        stdin: bytes | str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
        max_output_bytes: int | None = None,
    ) -> CommandResult:
        """Runs ``command`` (a list is an argv; a string runs under ``/bin/sh -c``) to completion.
        A command past ``timeout`` seconds is killed and comes back with ``timed_out=True``;
        ``result.check()`` turns a failure into an exception."""
        return self._sb._call(
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

    def spawn(
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
    ) -> Process:
        """Starts ``command`` and streams it over a WebSocket: iterate for output, ``send_stdin``,
        ``close_stdin``, ``signal``, ``wait``. The process ends when the stream closes (for one
        that outlives it, :meth:`start`). ``pty=True`` runs it on a ``rows`` x ``cols`` terminal:
        stdin is keystrokes (``b"\x03"`` is Ctrl-C), output is raw terminal bytes on stdout,
        and ``resize(rows, cols)`` changes the size."""
        tty = terminal_size(rows, cols) if pty else None
        frame = start_frame(
            command, env=env, cwd=cwd, timeout=timeout, stdin=stdin, max_output_bytes=max_output_bytes, tty=tty
        )
        route = self._sb._p.route
        url = ws_url(route.url()) + self._sb._prefix + "/exec"
        try:
            # The Process owns the connection and closes it: enter its context here.
            ws = ws_connect(
                url,
                subprotocols=[EXEC_SUBPROTOCOL],  # type: ignore[list-item]
                additional_headers=auth_headers(route.token),
                ssl=route.ws_tls(url),
                max_size=WS_MAX_MESSAGE_BYTES,
                open_timeout=30,
                create_connection=SerializedTLSClientConnection,
            ).__enter__()
        except InvalidStatus as e:
            r = e.response
            headers = dict(r.headers.raw_items())
            raise error_from_response(
                r.status_code, headers, bytes(r.body or b""), token_sent=bool(route.token)
            ) from None
        except OSError as e:
            raise RouterUnavailable(f"router unreachable for exec streaming: {e}") from e
        ws.send(frame)
        return Process(ws, pty)


class Files:
    """Files in the sandbox; paths are relative to its workspace (absolute ones must lie inside)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox

    def read(self, path: str) -> bytes:
        return b"".join(self.iter_read(path))

    def read_text(self, path: str, encoding: str = "utf-8") -> str:
        return self.read(path).decode(encoding)

    def iter_read(self, path: str, chunk_size: int = CHUNK_BYTES) -> Iterator[bytes]:
        """Streams the file's bytes; a file of any size never sits in memory whole."""
        with self._sb._http.stream("GET", _ops.read_path(self._sb._prefix, path), idempotent=True) as r:
            yield from r.iter_bytes(chunk_size)

    def download(self, path: str, local_path: str | os.PathLike[str]) -> int:
        """Streams the file to ``local_path``; returns the number of bytes written."""
        written = 0
        with open(local_path, "wb") as out:
            for chunk in self.iter_read(path):
                out.write(chunk)
                written += len(chunk)
        return written

    def write(
        self,
        path: str,
        data: bytes | str | IO[bytes] | Iterable[bytes],
        *,
        mode: int | None = None,
        create_parents: bool = True,
    ) -> FileInfo:
        """Writes ``data`` (bytes, text, a binary file object or an iterable of chunks, all streamed)
        atomically to ``path``, creating missing parent directories."""
        content, replayable = _body(data)
        return self._sb._call(
            _ops.write(self._sb._prefix, path, content, mode=mode, create_parents=create_parents, replayable=replayable)
        )

    def upload(self, local_path: str | os.PathLike[str], path: str, *, mode: int | None = None) -> FileInfo:
        with open(local_path, "rb") as f:
            return self.write(path, f, mode=mode)

    def list(self, path: str = ".") -> list[FileInfo]:
        return self._sb._call(_ops.list_dir(self._sb._prefix, path))

    def stat(self, path: str) -> FileInfo:
        return self._sb._call(_ops.stat(self._sb._prefix, path))

    def exists(self, path: str) -> bool:
        try:
            self.stat(path)
            return True
        except NotFound:
            return False

    def remove(self, path: str, *, recursive: bool = False) -> None:
        self._sb._call(_ops.remove(self._sb._prefix, path, recursive))

    def mkdir(self, path: str, *, parents: bool = True, mode: int | None = None) -> FileInfo:
        return self._sb._call(_ops.mkdir(self._sb._prefix, path, parents, mode))
