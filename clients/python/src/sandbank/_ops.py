"""Each Sandbank API operation once, as a :class:`Call` (what to send, how to read the answer);
the sync and async handles only send it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from ._protocol import (
    Command,
    CommandResult,
    FileInfo,
    exec_body,
    parse_exec_response,
    parse_file_info,
    quote_path,
    request_timeout,
)

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
