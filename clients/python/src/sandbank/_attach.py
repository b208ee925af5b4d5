"""Background processes on the wire (``…/processes``, ``router/README.md``): a process's
description, and the attach stream, decoded frame by frame with every bound checked.

The attach body is a sequence of frames: kind (1 byte), offset (8 bytes, big-endian), payload
length (4 bytes, big-endian), payload. Kind 0 ``attached`` first (payload JSON), then 1 stdout and
2 stderr chunks at increasing offsets (a gap: bytes the ring dropped), then 3 ``exit`` (payload
the exit status JSON). Whatever the server sends, the decoder holds at most one incomplete frame
plus the read being decoded (a header announcing more than the protocol allows is refused before
its payload is read), and a stream that ends or stalls inside a frame is cut, never waited on
(``FRAME_STALL_TIMEOUT_S``).

:class:`AttachCursor` is what survives a lost connection: the next offset to ask for. The sync
and async attachments only move bytes between the HTTP stream and it.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ._protocol import CommandResult
from .errors import ProtocolError, StreamClosed

#: The attach response's media type.
ATTACH_CONTENT_TYPE = "application/vnd.sandbank.process-output"
KIND_ATTACHED, KIND_STDOUT, KIND_STDERR, KIND_EXIT = 0, 1, 2, 3
_HEADER = struct.Struct(">BQI")
#: The router never sends a larger output chunk (it cuts an agent that does).
MAX_CHUNK_BYTES = 1 << 20
#: ``attached`` and ``exit`` payloads are small JSON (a command is cut to 256 characters); 64 KiB
#: is ample, and what a hostile server can make the client hold for one of them.
MAX_JSON_BYTES = 64 << 10
#: Offsets are JSON numbers in the API, exact up to 2^53 - 1.
MAX_OFFSET = 2**53 - 1
#: How long one read may wait while a frame is partly read: the router writes a frame at once, so
#: this much silence inside one is a stalled router, and the connection is treated as cut (resumed
#: from ``next_offset``). Between frames there is no limit: a followed process may be quiet for
#: hours. 30 s: far above a slow network's pause, short enough to notice a hung router.
FRAME_STALL_TIMEOUT_S = 30.0
#: Connections in a row that may end without a new byte or the exit before the attachment gives
#: up (a router restarting is one; a server that keeps cutting at once is not going to improve).
MAX_RESUMES_WITHOUT_PROGRESS = 3


def _get(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = obj.get(key)
    # bool is an int in Python; the API never sends one for a number.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ProtocolError(f"{where}.{key}: expected {getattr(kind, '__name__', kind)}, got {value!r:.80}")
    return value


def _offset(obj: Mapping[str, Any], key: str, where: str) -> int:
    value: int = _get(obj, key, int, where)
    if not 0 <= value <= MAX_OFFSET:
        raise ProtocolError(f"{where}.{key}: {value} is not an offset (0 to 2^53 - 1)")
    return value


def _time(value: object, where: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ProtocolError(f"{where}: not an RFC 3339 time: {value!r:.80}") from None


def parse_exit_status(body: object, where: str = "exit") -> CommandResult:
    """An ExitStatus (``exitCode``, ``signal``, ``timedOut``, …) as a result without output."""
    if not isinstance(body, dict):
        raise ProtocolError(f"{where}: expected an object, got {body!r:.80}")
    flags = [bool(_get(body, k, bool, where)) for k in ("timedOut", "oomKilled", "stdoutTruncated", "stderrTruncated")]
    return CommandResult(
        exit_code=_get(body, "exitCode", int, where),
        signal=_get(body, "signal", str, where),
        timed_out=flags[0],
        oom_killed=flags[1],
        stdout_truncated=flags[2],
        stderr_truncated=flags[3],
        duration_ms=_get(body, "durationMs", int, where),
    )


@dataclass(frozen=True)
class ProcessInfo:
    """A background process as the agent describes it. Its output is addressed by byte offsets
    (stdout and stderr in one offset space): ``first_offset`` is the first byte still retained,
    ``end_offset`` one past the last so far."""

    id: str
    pid: int
    command: str
    state: Literal["running", "exited"]
    #: How it ended (output is read with attach, so the result's output fields are empty).
    exit: CommandResult | None
    started_at: datetime | None
    ended_at: datetime | None
    first_offset: int
    end_offset: int
    stdin_open: bool

    @property
    def running(self) -> bool:
        return self.state == "running"


def parse_process(body: object, where: str = "process") -> ProcessInfo:
    if not isinstance(body, dict):
        raise ProtocolError(f"{where}: expected an object, got {body!r:.80}")
    state = _get(body, "state", str, where)
    if state not in ("running", "exited"):
        raise ProtocolError(f"{where}.state: expected running or exited, got {state!r:.80}")
    raw_exit = body.get("exit")
    if (raw_exit is None) != (state == "running"):
        raise ProtocolError(f"{where}.exit: must be set exactly when the state is exited")
    first, end = _offset(body, "firstOffset", where), _offset(body, "endOffset", where)
    if first > end:
        raise ProtocolError(f"{where}.firstOffset: {first} is past endOffset {end}")
    return ProcessInfo(
        id=_get(body, "id", str, where),
        pid=_get(body, "pid", int, where),
        command=_get(body, "command", str, where),
        state=state,
        exit=None if raw_exit is None else parse_exit_status(raw_exit, f"{where}.exit"),
        started_at=_time(body.get("startedAt"), f"{where}.startedAt"),
        ended_at=_time(body.get("endedAt"), f"{where}.endedAt"),
        first_offset=first,
        end_offset=end,
        stdin_open=_get(body, "stdinOpen", bool, where),
    )


def parse_process_list(body: object) -> list[ProcessInfo]:
    entries = body.get("processes") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise ProtocolError(f"processes: expected a list, got {entries!r:.80}")
    return [parse_process(p, f"processes[{i}]") for i, p in enumerate(entries)]


@dataclass(frozen=True)
class ProcessOutput:
    """A chunk of a background process's output at its absolute byte ``offset``."""

    stream: Literal["stdout", "stderr"]
    offset: int
    data: bytes

    @property
    def end(self) -> int:
        """The offset after this chunk: where to resume."""
        return self.offset + len(self.data)

    @property
    def text(self) -> str:
        return self.data.decode(errors="replace")


@dataclass(frozen=True)
class Attached:
    start_offset: int
    bytes_dropped: bool
    process: ProcessInfo


@dataclass(frozen=True)
class Exited:
    end_offset: int
    status: CommandResult


AttachEvent = Attached | ProcessOutput | Exited


def _json_payload(payload: bytes, where: str) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except ValueError:
        raise ProtocolError(f"{where}: the payload is not JSON") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}: the payload is not a JSON object")
    return value


class FrameDecoder:
    """The frames of one attach response, from its bytes as they arrive. ``floor``: no output
    may start before it (the offset this connection asked from, when resuming)."""

    def __init__(self, floor: int = 0) -> None:
        self._buffer = bytearray()
        self._next = -1  # where the next chunk may start; -1 until `attached`
        self._floor = floor
        self.exited = False

    def feed(self, data: bytes) -> Iterator[AttachEvent]:
        """The complete frames ``data`` finishes; a partial one waits for the next call."""
        self._buffer += data
        while len(self._buffer) >= _HEADER.size:
            kind, offset, length = _HEADER.unpack_from(self._buffer)
            self._check_header(kind, offset, length)
            if len(self._buffer) < _HEADER.size + length:
                return
            payload = bytes(self._buffer[_HEADER.size : _HEADER.size + length])
            del self._buffer[: _HEADER.size + length]
            yield self._event(kind, offset, payload)

    @property
    def partial(self) -> bool:
        """Whether part of a frame was read and the rest is still owed."""
        return bool(self._buffer)

    def end(self) -> None:
        """The body ended cleanly: raises if it ended inside a frame or before ``attached``."""
        if self._buffer:
            raise ProtocolError(f"attach stream: the body ended inside a frame ({len(self._buffer)} bytes of it)")
        if self._next < 0:
            raise ProtocolError("attach stream: the body ended before the attached frame")

    def _check_header(self, kind: int, offset: int, length: int) -> None:
        where = f"attach frame at offset {offset}"
        if self.exited:
            raise ProtocolError(f"{where}: a frame after exit")
        if kind not in (KIND_ATTACHED, KIND_STDOUT, KIND_STDERR, KIND_EXIT):
            raise ProtocolError(f"{where}: unknown kind {kind}")
        if (kind == KIND_ATTACHED) != (self._next < 0):
            raise ProtocolError(
                f"{where}: " + ("a second attached frame" if kind == KIND_ATTACHED else "before attached")
            )
        limit = MAX_CHUNK_BYTES if kind in (KIND_STDOUT, KIND_STDERR) else MAX_JSON_BYTES
        if length > limit:
            raise ProtocolError(f"{where}: a payload of {length} bytes (at most {limit} for kind {kind})")
        if kind in (KIND_STDOUT, KIND_STDERR):
            if length == 0:
                raise ProtocolError(f"{where}: an empty output chunk")
            if offset < self._next:
                raise ProtocolError(f"{where}: output before offset {self._next} (offsets go back)")
            if offset + length > MAX_OFFSET:
                raise ProtocolError(f"{where}: past 2^53 - 1")

    def _event(self, kind: int, offset: int, payload: bytes) -> AttachEvent:
        if kind == KIND_ATTACHED:
            body = _json_payload(payload, "attached")
            start = _offset(body, "startOffset", "attached")
            if start != offset or start < self._floor:
                raise ProtocolError(f"attached: startOffset {start} (frame offset {offset}, asked from {self._floor})")
            self._next = start
            return Attached(
                start,
                bool(_get(body, "bytesDropped", bool, "attached")),
                parse_process(body.get("process"), "attached.process"),
            )
        if kind == KIND_EXIT:
            if offset != self._next:
                raise ProtocolError(f"exit: at offset {offset}, but the output ended at {self._next}")
            self.exited = True
            return Exited(offset, parse_exit_status(_json_payload(payload, "exit")))
        self._next = offset + len(payload)
        return ProcessOutput("stdout" if kind == KIND_STDOUT else "stderr", offset, payload)


class AttachCursor:
    """One attachment across its connections: what to ask for next, what was seen."""

    def __init__(self, process_id: str, from_offset: int, follow: bool) -> None:
        if isinstance(from_offset, bool) or not isinstance(from_offset, int) or not 0 <= from_offset <= MAX_OFFSET:
            raise ValueError(f"from_offset: must be an integer from 0 to 2^53 - 1, got {from_offset!r}")
        self.process_id = process_id
        self.follow = follow
        #: The offset to ask from on the next connection: one past the last byte received.
        self.next_offset = from_offset
        self.attached: Attached | None = None
        self.exit: CommandResult | None = None
        self._connections = 0
        self._stalls = 0
        self._progress = False

    def params(self) -> dict[str, str]:
        return {"fromOffset": str(self.next_offset), "follow": "true" if self.follow else "false"}

    def connect(self, content_type: str) -> FrameDecoder:
        """A new connection answered ``content_type``: its decoder (no byte before what we hold)."""
        if content_type.split(";")[0].strip().lower() != ATTACH_CONTENT_TYPE:
            raise ProtocolError(
                f"attach: the router answered {content_type or 'no content type'!r}, not the attach stream"
            )
        floor = self.next_offset if self._connections else 0
        self._connections += 1
        self._progress = False
        return FrameDecoder(floor)

    def take(self, event: AttachEvent) -> ProcessOutput | None:
        """Records ``event``; returns it when it is output for the caller."""
        if isinstance(event, ProcessOutput):
            self.next_offset = event.end
            self._progress = True
            return event
        if isinstance(event, Exited):
            self.exit = event.status
            self._progress = True
        else:
            # A resumed connection starts at or after what we hold (FrameDecoder's floor).
            self.attached = self.attached or event
            self.next_offset = event.start_offset
        return None

    def finished(self, cut: bool) -> bool:
        """After a connection ended (``cut``: by a transfer error): True when nothing is left to
        read; False to reconnect from :attr:`next_offset`. Raises StreamClosed after too many
        connections in a row that brought nothing."""
        if self.exit is not None or (not self.follow and not cut):
            return True
        self._stalls = 0 if self._progress else self._stalls + 1
        if self._stalls >= MAX_RESUMES_WITHOUT_PROGRESS:
            raise StreamClosed(
                f"the output stream of process {self.process_id} was cut {self._stalls} times in a row without "
                f"progress; attach again with from_offset={self.next_offset} to resume"
            )
        return False
