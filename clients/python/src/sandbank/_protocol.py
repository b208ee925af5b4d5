"""The router's wire contract as pure functions: URLs, headers, bodies, and parsing of answers.

Shared by the sync and async clients (which only send what these build), and unit-tested
without a server. The contract itself is ``router/README.md``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from .errors import CommandFailed, CommandTimeout, RouterError, Unauthenticated, error_for_code

EXEC_SUBPROTOCOL = "sandbank.exec.v1"
#: The agent's legacy REST port: what the agent-sandbox client sends as X-Sandbox-Port.
LEGACY_AGENT_PORT = 8888
#: Extra seconds the HTTP request may take beyond the command's own timeout (router + network).
REQUEST_TIMEOUT_MARGIN_S = 10.0
#: Router error codes after which the request provably never reached the sandbox's agent
#: (``rate_limited`` is answered before authentication, ``output_budget_exhausted`` before the run).
RETRY_SAFE_CODES = frozenset(
    {
        "sandbox_not_ready",
        "too_many_streams",
        "rate_limited",
        "output_budget_exhausted",
        "upstream_unavailable",
        "shutting_down",
    }
)

Command = str | Sequence[str]


def v1_prefix(namespace: str, name: str) -> str:
    """The path under which the Sandbank API serves one sandbox."""
    return f"/v1/namespaces/{quote(namespace, safe='')}/sandboxes/{quote(name, safe='')}"


def claim_prefix(namespace: str, name: str) -> str:
    """The path under which the router serves one claim's ports and preview links."""
    return f"/v1/namespaces/{quote(namespace, safe='')}/sandboxclaims/{quote(name, safe='')}"


def ws_url(http_url: str) -> str:
    if http_url.startswith("https://"):
        return "wss://" + http_url[len("https://") :]
    if http_url.startswith("http://"):
        return "ws://" + http_url[len("http://") :]
    raise ValueError(f"router URL must start with http:// or https://, got {http_url!r}")


def quote_path(path: str) -> str:
    """A sandbox path as one URL segment (``/`` encoded too), as the router decodes it."""
    if not path:
        raise ValueError("path: must not be empty")
    if "\0" in path:
        raise ValueError("path: must not contain NUL")
    # "." and ".." would be dot segments that URL normalisation removes (`/list/.` → `/list/`);
    # percent-encoded they reach the agent as the path they are.
    return quote(path, safe="").replace(".", "%2E") if path.strip(".") == "" else quote(path, safe="")


def auth_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def legacy_headers(
    claim: str, namespace: str, port: int = LEGACY_AGENT_PORT, token: str | None = None, timeout: float | None = None
) -> dict[str, str]:
    """The agent-sandbox router headers: which sandbox (the claim name), where, which port."""
    headers = {"X-Sandbox-ID": claim, "X-Sandbox-Namespace": namespace, "X-Sandbox-Port": str(port)}
    if timeout is not None:
        headers["X-Sandbox-Timeout"] = str(max(1, int(timeout + 0.999)))
    headers.update(auth_headers(token))
    return headers


def request_timeout(command_timeout: float | None) -> float | None:
    """How long the HTTP call may take: the command's timeout plus a margin; None waits for the router."""
    return None if command_timeout is None else command_timeout + REQUEST_TIMEOUT_MARGIN_S


def process_fields(
    command: Command, env: Mapping[str, str] | None, cwd: str | None, timeout: float | None
) -> dict[str, Any]:
    """``command`` (argv) or ``shell`` (a string for /bin/sh -c), plus env, cwd, timeoutMs."""
    body: dict[str, Any] = {}
    if isinstance(command, str):
        if not command.strip():
            raise ValueError("command: must not be empty")
        body["shell"] = command
    else:
        argv = [str(a) for a in command]
        if not argv:
            raise ValueError("command: must not be an empty list")
        body["command"] = argv
    if env:
        body["env"] = {str(k): str(v) for k, v in env.items()}
    if cwd:
        body["cwd"] = cwd
    if timeout is not None:
        if timeout <= 0:
            raise ValueError("timeout: must be positive (seconds)")
        body["timeoutMs"] = max(1, int(timeout * 1000))
    return body


def exec_body(
    command: Command,
    *,
    stdin: bytes | str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout: float | None = None,
    max_output_bytes: int | None = None,
) -> dict[str, Any]:
    """Body of ``POST …/exec``; output always comes back base64 so bytes survive exactly."""
    body = process_fields(command, env, cwd, timeout)
    if stdin is not None:
        raw = stdin.encode() if isinstance(stdin, str) else bytes(stdin)
        body["stdin"] = base64.b64encode(raw).decode()
        body["stdinEncoding"] = "base64"
    body["outputEncoding"] = "base64"
    if max_output_bytes is not None:
        body["maxOutputBytes"] = max_output_bytes
    return body


#: The router's bounds on a terminal's rows and columns (each).
TERMINAL_MAX = 10_000


def terminal_size(rows: int, cols: int) -> dict[str, int]:
    """``{cols, rows}`` as the router takes it (``tty`` of a start, a resize), each 1-10000."""
    for field_name, value in (("rows", rows), ("cols", cols)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= TERMINAL_MAX:
            raise ValueError(f"{field_name}: must be an integer from 1 to {TERMINAL_MAX}, got {value!r}")
    return {"cols": cols, "rows": rows}


def start_frame(
    command: Command,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout: float | None = None,
    stdin: bool = True,
    max_output_bytes: int | None = None,
    tty: Mapping[str, int] | None = None,
) -> str:
    """The first WebSocket frame of a streamed exec; ``tty`` (:func:`terminal_size`) runs it on a terminal."""
    frame: dict[str, Any] = {"type": "start", **process_fields(command, env, cwd, timeout), "stdin": stdin}
    if max_output_bytes is not None:
        frame["maxOutputBytes"] = max_output_bytes
    if tty is not None:
        frame["tty"] = dict(tty)
    return json.dumps(frame)


def resize_frame(rows: int, cols: int) -> str:
    return json.dumps({"type": "resize", **terminal_size(rows, cols)})


SIGNALS = frozenset({"SIGHUP", "SIGINT", "SIGTERM", "SIGKILL"})


def signal_name(signal: str) -> str:
    """``"int"``, ``"SIGINT"`` → ``"SIGINT"``; only the signals the router relays."""
    name = signal.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name not in SIGNALS:
        raise ValueError(f"signal: must be one of {', '.join(sorted(SIGNALS))}, got {signal!r}")
    return name


def signal_frame(signal: str) -> str:
    return json.dumps({"type": "signal", "signal": signal_name(signal)})


CLOSE_STDIN_FRAME = json.dumps({"type": "close_stdin"})


@dataclass(frozen=True)
class CommandResult:
    """How a command ended, with its (possibly truncated) output."""

    exit_code: int
    stdout_bytes: bytes = b""
    stderr_bytes: bytes = b""
    signal: str = ""
    timed_out: bool = False
    oom_killed: bool = False
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    duration_ms: int = 0

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_bytes.decode(errors="replace")

    @property
    def truncated(self) -> bool:
        """True when the agent dropped output beyond ``max_output_bytes``."""
        return self.stdout_truncated or self.stderr_truncated

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def check(self) -> CommandResult:
        """Returns self when the command succeeded; raises CommandTimeout or CommandFailed otherwise."""
        if self.timed_out:
            raise CommandTimeout(f"the command timed out after {self.duration_ms} ms")
        if self.exit_code != 0:
            tail = self.stderr.strip().splitlines()[-1:]
            raise CommandFailed(f"command exited with {self.exit_code}" + (f": {tail[0]}" if tail else ""), self)
        return self


def parse_exit(frame: Mapping[str, Any], stdout: bytes = b"", stderr: bytes = b"") -> CommandResult:
    return CommandResult(
        exit_code=int(frame.get("exitCode", -1)),
        stdout_bytes=stdout,
        stderr_bytes=stderr,
        signal=str(frame.get("signal") or ""),
        timed_out=bool(frame.get("timedOut")),
        oom_killed=bool(frame.get("oomKilled")),
        stdout_truncated=bool(frame.get("stdoutTruncated")),
        stderr_truncated=bool(frame.get("stderrTruncated")),
        duration_ms=int(frame.get("durationMs") or 0),
    )


def parse_exec_response(body: Mapping[str, Any]) -> CommandResult:
    encoding = body.get("encoding", "utf8")

    def decode(value: object) -> bytes:
        text = str(value or "")
        return base64.b64decode(text) if encoding == "base64" else text.encode()

    return parse_exit(body, decode(body.get("stdout")), decode(body.get("stderr")))


@dataclass(frozen=True)
class FileInfo:
    """One file or directory in the sandbox (paths are relative to the workspace)."""

    name: str
    path: str
    size: int
    type: str
    mode: int = 0
    mod_time: datetime | None = field(default=None, compare=False)

    @property
    def is_dir(self) -> bool:
        return self.type == "directory"


def parse_file_info(body: Mapping[str, Any]) -> FileInfo:
    mod = body.get("modTime")
    return FileInfo(
        name=str(body.get("name", "")),
        path=str(body.get("path", "")),
        size=int(body.get("size") or 0),
        type=str(body.get("type", "other")),
        mode=int(body.get("mode") or 0),
        mod_time=datetime.fromisoformat(str(mod).replace("Z", "+00:00")) if mod else None,
    )


#: Added to an ``unauthenticated`` answer to a request that carried no token.
NO_TOKEN_HINT = (
    "no router token was sent: pass token= or set SANDBANK_ROUTER_TOKEN "
    "(a router in kubernetes auth mode: token=sandbank.kubernetes_token())"
)


def error_from_response(
    status: int, headers: Mapping[str, str], body: bytes, *, token_sent: bool = True
) -> RouterError:
    """The typed error of a non-2xx router answer: ``{"error":{code,message}}`` (Sandbank API),
    ``{"detail": …}`` + ``X-Sandbank-Error-Code`` (legacy), or whatever a proxy sent.
    ``token_sent``: whether the request carried a token (if not, a 401 says how to send one)."""
    code = headers.get("x-sandbank-error-code") or headers.get("X-Sandbank-Error-Code")
    message = ""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        err = parsed.get("error")
        if isinstance(err, dict):
            code = str(err.get("code") or code or "")
            message = str(err.get("message") or "")
        elif "detail" in parsed:
            message = str(parsed["detail"])
    if not message:
        message = body[:200].decode(errors="replace").strip() or f"HTTP {status}"
    err = error_for_code(code, f"router: {message} (HTTP {status})", status)
    if isinstance(err, Unauthenticated) and not token_sent:
        err.args = (f"{err}; {NO_TOKEN_HINT}",)
    return err


def error_from_close(code: int, reason: str) -> RouterError:
    """A WebSocket close (4000 + HTTP status, reason ``<code>: message``) as a typed error."""
    name, _, message = reason.partition(":")
    status = code - 4000 if 4000 <= code < 5000 else {1001: 503, 1009: 413, 1011: 500}.get(code)
    return error_for_code(name.strip() if message else None, f"router closed the stream: {reason or code}", status)
