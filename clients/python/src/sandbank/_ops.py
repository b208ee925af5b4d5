"""Each Sandbank API operation once, as a :class:`Call` (what to send, how to read the answer);
the sync and async handles only send it."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from ._attach import ProcessInfo, parse_process, parse_process_list
from ._protocol import (
    Command,
    CommandResult,
    FileInfo,
    exec_body,
    parse_exec_response,
    parse_file_info,
    process_fields,
    quote_path,
    request_timeout,
    signal_name,
    terminal_size,
)
from .errors import CommandTimeout, ProtocolError

T = TypeVar("T")


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    idempotent: bool
    params: Mapping[str, str] | None = None
    json: Any = None
    content: Any = None
    timeout: float | None = None
    replayable: bool = True

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"idempotent": self.idempotent, "timeout": self.timeout, "replayable": self.replayable}
        if self.params:
            out["params"] = dict(self.params)
        if self.json is not None:
            out["json"] = self.json
        if self.content is not None:
            out["content"] = self.content
        return out


def _none(_: httpx.Response) -> None:
    return None


def _info(r: httpx.Response) -> FileInfo:
    return parse_file_info(r.json())


def run(
    prefix: str,
    command: Command,
    *,
    stdin: bytes | str | None,
    env: Mapping[str, str] | None,
    cwd: str | None,
    timeout: float | None,
    max_output_bytes: int | None,
) -> Call[CommandResult]:
    body = exec_body(command, stdin=stdin, env=env, cwd=cwd, timeout=timeout, max_output_bytes=max_output_bytes)
    return Call(
        "POST",
        f"{prefix}/exec",
        lambda r: parse_exec_response(r.json()),
        idempotent=False,
        json=body,
        timeout=request_timeout(timeout),
    )


def stat(prefix: str, path: str) -> Call[FileInfo]:
    return Call("GET", f"{prefix}/stat", _info, idempotent=True, params={"path": path})


def list_dir(prefix: str, path: str) -> Call[list[FileInfo]]:
    return Call(
        "GET",
        f"{prefix}/list",
        lambda r: [parse_file_info(e) for e in r.json().get("entries", [])],
        idempotent=True,
        params={"path": path},
    )


def mkdir(prefix: str, path: str, parents: bool, mode: int | None) -> Call[FileInfo]:
    params = {"path": path, "parents": "true" if parents else "false"}
    if mode is not None:
        params["mode"] = format(mode, "o")
    # Retried like a read: with parents=True a second mkdir of the same directory succeeds.
    return Call("POST", f"{prefix}/mkdir", _info, idempotent=parents, params=params)


def remove(prefix: str, path: str, recursive: bool) -> Call[None]:
    return Call(
        "DELETE",
        f"{prefix}/files/{quote_path(path)}",
        _none,
        idempotent=False,
        params={"recursive": "true" if recursive else "false"},
    )


def write(
    prefix: str, path: str, content: Any, *, mode: int | None, create_parents: bool, replayable: bool
) -> Call[FileInfo]:
    params = {"createParents": "true" if create_parents else "false"}
    if mode is not None:
        params["mode"] = format(mode, "o")
    # The write is atomic (temp file + rename), so sending it again is safe when the body can be replayed.
    return Call(
        "PUT",
        f"{prefix}/files/{quote_path(path)}",
        _info,
        idempotent=replayable,
        params=params,
        content=content,
        replayable=replayable,
    )


def read_path(prefix: str, path: str) -> str:
    return f"{prefix}/files/{quote_path(path)}"


# Background processes (``…/processes``).

#: A process id as the router accepts one; checked here so a bad one fails naming the argument.
PROCESS_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: Longest single ``…/wait`` call: the router answers ``running`` a second before its own request
#: timeout (180 s by default) anyway; a shorter slice keeps a dead connection from hiding longer.
WAIT_SLICE_S = 60.0


def process_path(prefix: str, process_id: str, action: str = "") -> str:
    if not isinstance(process_id, str) or not PROCESS_ID.fullmatch(process_id):
        raise ValueError(f"id: must be 1-64 letters, digits, '_', '.' or '-' (a process id), got {process_id!r}")
    return f"{prefix}/processes/{quote(process_id, safe='')}{action}"


def _process(r: httpx.Response) -> ProcessInfo:
    return parse_process(r.json())


def start_process(
    prefix: str,
    command: Command,
    *,
    env: Mapping[str, str] | None,
    cwd: str | None,
    timeout: float | None,
    stdin: bool,
    tty: Mapping[str, int] | None,
) -> Call[ProcessInfo]:
    body = {**process_fields(command, env, cwd, timeout), "stdin": stdin}
    if tty is not None:
        body["tty"] = dict(tty)
    return Call("POST", f"{prefix}/processes", _process, idempotent=False, json=body)


def list_processes(prefix: str) -> Call[list[ProcessInfo]]:
    return Call("GET", f"{prefix}/processes", lambda r: parse_process_list(r.json()), idempotent=True)


def get_process(prefix: str, process_id: str) -> Call[ProcessInfo]:
    return Call("GET", process_path(prefix, process_id), _process, idempotent=True)


def remove_process(prefix: str, process_id: str) -> Call[None]:
    return Call("DELETE", process_path(prefix, process_id), _none, idempotent=False)


def write_stdin(prefix: str, process_id: str, data: bytes | str, close: bool) -> Call[None]:
    raw = data.encode() if isinstance(data, str) else bytes(data)
    body = {"data": base64.b64encode(raw).decode(), "encoding": "base64", "close": close}
    return Call("POST", process_path(prefix, process_id, "/stdin"), _none, idempotent=False, json=body)


def signal_process(prefix: str, process_id: str, signal: str) -> Call[None]:
    body = {"signal": signal_name(signal)}
    return Call("POST", process_path(prefix, process_id, "/signal"), _none, idempotent=False, json=body)


def resize_process(prefix: str, process_id: str, rows: int, cols: int) -> Call[None]:
    # The same size set twice is the same terminal: safe to resend.
    body = terminal_size(rows, cols)
    return Call("POST", process_path(prefix, process_id, "/resize"), _none, idempotent=True, json=body)


class ProcessWait:
    """``wait(id, timeout)`` as a series of bounded ``…/wait`` calls: :meth:`next_call` until it is
    None (then :meth:`expired`), or until a call answers an exited process."""

    def __init__(self, prefix: str, process_id: str, timeout: float | None) -> None:
        if timeout is not None and timeout < 0:
            raise ValueError("timeout: must not be negative (seconds)")
        self._path = process_path(prefix, process_id, "/wait")
        self._id = process_id
        self._timeout = timeout
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._first = True

    def next_call(self) -> Call[ProcessInfo] | None:
        left = WAIT_SLICE_S if self._deadline is None else min(WAIT_SLICE_S, self._deadline - time.monotonic())
        if left <= 0 and not self._first:
            return None
        self._first = False  # timeout=0 still asks once: a process that already exited is returned
        slice_s = max(0.0, left)
        body = {"timeoutMs": int(slice_s * 1000)}
        return Call("POST", self._path, _process, idempotent=True, json=body, timeout=request_timeout(slice_s))

    def expired(self) -> CommandTimeout:
        return CommandTimeout(f"process {self._id} still running after {self._timeout:g} s")


def attach_path(prefix: str, process_id: str) -> str:
    return process_path(prefix, process_id, "/attach")


# Sandbox ports and preview links (``…/sandboxclaims/{name}/…``).


def check_port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port: must be an integer from 1 to 65535, got {port!r}")
    return port


def port_path(claim_prefix: str, port: int, path: str) -> str:
    """The port route of ``port``, then ``path`` (with its query) as the sandbox gets it."""
    if not path.startswith("/"):
        raise ValueError(f"path: must start with '/', got {path!r}")
    return f"{claim_prefix}/ports/{check_port(port)}{path}"


@dataclass(frozen=True)
class PreviewLink:
    """A signed link that opens one port of one claim without the API token, until ``expires_at``."""

    url: str
    token: str
    port: int
    expires_at: datetime


def parse_preview(body: object, base_url: str) -> PreviewLink:
    if not isinstance(body, dict):
        raise ProtocolError(f"preview: expected an object, got {body!r:.80}")
    url, token, port, expires = body.get("url"), body.get("token"), body.get("port"), body.get("expiresAt")
    if not isinstance(url, str) or not url.startswith("/v1/previews/"):
        raise ProtocolError(f"preview.url: expected /v1/previews/…, got {url!r:.80}")
    if not isinstance(token, str) or not isinstance(expires, str):
        raise ProtocolError("preview: token and expiresAt are required")
    # bool is an int in Python; the API never sends one for a number.
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ProtocolError(f"preview.port: expected a port from 1 to 65535, got {port!r:.80}")
    try:
        expires_at = datetime.fromisoformat(expires.replace("Z", "+00:00"))
    except ValueError:
        raise ProtocolError(f"preview.expiresAt: not an RFC 3339 time: {expires!r:.80}") from None
    # The router's url is relative to its own base URL (which may carry a path, behind an Ingress).
    return PreviewLink(base_url.rstrip("/") + url, token, port, expires_at)


def mint_preview(claim_prefix: str, base_url: str, port: int, ttl_seconds: int | None) -> Call[PreviewLink]:
    body: dict[str, Any] = {"port": check_port(port)}
    if ttl_seconds is not None:
        if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds < 1:
            raise ValueError(f"ttl_seconds: must be a positive integer, got {ttl_seconds!r}")
        body["ttlSeconds"] = ttl_seconds
    return Call(
        "POST", f"{claim_prefix}/previews", lambda r: parse_preview(r.json(), base_url), idempotent=False, json=body
    )
