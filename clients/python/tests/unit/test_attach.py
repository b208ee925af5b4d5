"""The attach stream of background processes (``…/processes/{id}/attach``) as a hostile or broken
server could send it: frames split anywhere, truncated, oversized, out of order or of no known
kind. The client must raise a clear error, never wait for bytes a bad header promised or a
stalled router owes, nor hold more than one incomplete frame, and resume a cut stream from the
offset after the last byte it got."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from sandbank import _attach, _ops, _protocol
from sandbank._attach import (
    ATTACH_CONTENT_TYPE,
    MAX_CHUNK_BYTES,
    AttachCursor,
    Attached,
    Exited,
    FrameDecoder,
    ProcessOutput,
    parse_process,
)
from sandbank._http import AsyncHttp, SyncHttp, refused
from sandbank._route import Mode, Route
from sandbank.background import AsyncProcessAttachment, ProcessAttachment
from sandbank.errors import CommandTimeout, NotFound, ProtocolError, StreamClosed
from sandbank.process import _resize

EXIT = {
    "exitCode": 0,
    "signal": "",
    "timedOut": False,
    "oomKilled": False,
    "stdoutTruncated": False,
    "stderrTruncated": False,
    "durationMs": 1200,
}


def process(state: str = "running", first: int = 0, end: int = 0, **over: Any) -> dict[str, Any]:
    return {
        "id": "0a1b2c3d-1",
        "pid": 42,
        "command": "sh -c 'sleep 1; echo done'",
        "state": state,
        "exit": EXIT if state == "exited" else None,
        "startedAt": "2026-01-02T03:04:05.000Z",
        "endedAt": "2026-01-02T03:04:06.200Z" if state == "exited" else None,
        "firstOffset": first,
        "endOffset": end,
        "stdinOpen": False,
        **over,
    }


def frame(kind: int, offset: int, payload: bytes) -> bytes:
    """A frame as the router encodes it: kind, offset (8, big-endian), length (4, big-endian), payload."""
    return struct.pack(">BQI", kind, offset, len(payload)) + payload


def attached(start: int, dropped: bool = False, **proc: Any) -> bytes:
    body = {"startOffset": start, "bytesDropped": dropped, "process": process(**proc)}
    return frame(0, start, json.dumps(body).encode())


def exited(end: int) -> bytes:
    return frame(3, end, json.dumps(EXIT).encode())


def decode(data: bytes, step: int | None = None) -> list[_attach.AttachEvent]:
    decoder = FrameDecoder()
    events: list[_attach.AttachEvent] = []
    for i in range(0, len(data), step or len(data) or 1):
        events.extend(decoder.feed(data[i : i + (step or len(data))]))
    decoder.end()
    return events


WHOLE = attached(0) + frame(1, 0, b"hello ") + frame(2, 6, b"oops\n") + frame(1, 20, b"world\n") + exited(26)


class TestFrames:
    @pytest.mark.parametrize("step", [None, 1, 7, 13, 14])
    def test_frames_split_anywhere_decode_the_same(self, step: int | None) -> None:
        events = decode(WHOLE, step)
        assert isinstance(events[0], Attached) and events[0].start_offset == 0 and events[0].process.pid == 42
        assert events[1:4] == [
            ProcessOutput("stdout", 0, b"hello "),
            ProcessOutput("stderr", 6, b"oops\n"),
            ProcessOutput("stdout", 20, b"world\n"),  # 11-19: bytes the ring dropped (a gap)
        ]
        assert isinstance(events[4], Exited) and events[4].end_offset == 26 and events[4].status.duration_ms == 1200

    def test_a_body_that_ends_inside_a_frame_is_an_error_not_a_wait(self) -> None:
        decoder = FrameDecoder()
        list(decoder.feed(WHOLE[:-3]))
        with pytest.raises(ProtocolError, match="ended inside a frame"):
            decoder.end()
        with pytest.raises(ProtocolError, match="before the attached frame"):
            FrameDecoder().end()

    @pytest.mark.parametrize(
        ("kind", "length", "limit"), [(1, MAX_CHUNK_BYTES + 1, MAX_CHUNK_BYTES), (0, 2**32 - 1, 64 << 10)]
    )
    def test_an_oversized_frame_is_refused_at_its_header(self, kind: int, length: int, limit: int) -> None:
        decoder = FrameDecoder()
        if kind == 1:
            list(decoder.feed(attached(0)))
        header = struct.pack(">BQI", kind, 0, length)
        # Refused as soon as the header is complete: nothing of the promised payload is awaited.
        with pytest.raises(ProtocolError, match=f"a payload of {length} bytes \\(at most {limit}"):
            list(decoder.feed(header))

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            (frame(9, 0, b"x"), "unknown kind 9"),
            (frame(1, 0, b"x"), "before attached"),
            (exited(0), "before attached"),
            (attached(0) + attached(0), "a second attached frame"),
            (attached(0) + frame(1, 0, b"ab") + frame(1, 1, b"c"), "offsets go back"),
            (attached(0) + frame(2, 0, b""), "an empty output chunk"),
            (attached(0) + exited(0) + frame(1, 0, b"x"), "a frame after exit"),
            (attached(0) + frame(1, 0, b"ab") + exited(5), "exit: at offset 5, but the output ended at 2"),
            (attached(0) + frame(1, 2**53 - 1, b"x"), "past 2\\^53 - 1"),
            (frame(0, 0, b"{not json"), "attached: the payload is not JSON"),
            (frame(0, 0, b"[1]"), "attached: the payload is not a JSON object"),
            (frame(0, 3, json.dumps({"startOffset": 4}).encode()), "startOffset 4 \\(frame offset 3"),
            (attached(0, pid="42"), "attached.process.pid: expected int"),
            (attached(0) + frame(3, 0, json.dumps({**EXIT, "exitCode": "0"}).encode()), "exit.exitCode: expected int"),
        ],
    )
    def test_a_frame_out_of_protocol_raises_naming_it(self, data: bytes, message: str) -> None:
        with pytest.raises(ProtocolError, match=message):
            decode(data)

    def test_a_resumed_connection_may_not_start_before_what_the_client_holds(self) -> None:
        with pytest.raises(ProtocolError, match="asked from 10"):
            list(FrameDecoder(floor=10).feed(attached(4, end=20)))


class TestProcessInfo:
    def test_parses_the_router_s_description(self) -> None:
        info = parse_process(process("exited", first=3, end=9))
        assert (info.id, info.state, info.running, info.first_offset, info.end_offset) == (
            "0a1b2c3d-1",
            "exited",
            False,
            3,
            9,
        )
        assert info.exit is not None and info.exit.exit_code == 0 and info.ended_at is not None

    @pytest.mark.parametrize(
        ("over", "message"),
        [
            ({"state": "zombie"}, "process.state: expected running or exited"),
            ({"exit": EXIT}, "process.exit: must be set exactly when the state is exited"),
            ({"firstOffset": 5, "endOffset": 4}, "process.firstOffset: 5 is past endOffset 4"),
            ({"endOffset": 2**53}, "process.endOffset: .* is not an offset"),
            ({"stdinOpen": None}, "process.stdinOpen: expected bool"),
            ({"startedAt": "yesterday"}, "process.startedAt: not an RFC 3339 time"),
        ],
    )
    def test_a_bad_field_is_named(self, over: dict[str, Any], message: str) -> None:
        with pytest.raises(ProtocolError, match=message):
            parse_process(process(**over))


class TestCursor:
    def test_resumes_after_a_cut_from_the_byte_after_the_last_one(self) -> None:
        cursor = AttachCursor("p-1", 0, follow=True)
        decoder = cursor.connect(ATTACH_CONTENT_TYPE)
        for event in decoder.feed(attached(0) + frame(1, 0, b"abc")):
            cursor.take(event)
        assert not cursor.finished(cut=True)
        assert cursor.params() == {"fromOffset": "3", "follow": "true"}

    def test_gives_up_after_cuts_without_progress_naming_the_offset(self) -> None:
        cursor = AttachCursor("p-1", 7, follow=True)
        with pytest.raises(StreamClosed, match="from_offset=7 to resume"):
            for _ in range(_attach.MAX_RESUMES_WITHOUT_PROGRESS):
                cursor.connect(ATTACH_CONTENT_TYPE)
                assert not cursor.finished(cut=True)

    def test_a_clean_end_without_follow_is_the_end_and_with_follow_a_cut(self) -> None:
        assert AttachCursor("p", 0, follow=False).finished(cut=False)
        assert not AttachCursor("p", 0, follow=True).finished(cut=False)

    def test_an_answer_that_is_not_the_attach_stream_is_refused(self) -> None:
        with pytest.raises(ProtocolError, match="'text/html'"):
            AttachCursor("p", 0, follow=True).connect("text/html")

    @pytest.mark.parametrize("bad", [-1, 2**53, True, 1.5])
    def test_from_offset_is_checked(self, bad: object) -> None:
        with pytest.raises(ValueError, match="from_offset"):
            AttachCursor("p", bad, follow=True)  # type: ignore[arg-type]


Handler = Callable[[httpx.Request], httpx.Response]


def body(*parts: bytes, then: Exception | None = None) -> Iterator[bytes]:
    yield from parts
    if then is not None:
        raise then


async def abody(*parts: bytes, then: Exception | None = None) -> AsyncIterator[bytes]:
    for p in parts:
        yield p
    if then is not None:
        raise then


def stream_response(parts: Iterator[bytes] | AsyncIterator[bytes]) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": ATTACH_CONTENT_TYPE}, content=parts)


def sync_http(handler: Handler) -> SyncHttp:
    http = SyncHttp(Route(Mode.DIRECT, "http://127.0.0.1:9", "tok"))
    http.client = httpx.Client(transport=httpx.MockTransport(handler))
    return http


def async_http(handler: Handler) -> AsyncHttp:
    http = AsyncHttp(Route(Mode.DIRECT, "http://127.0.0.1:9", "tok"))
    http.client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return http


PATH = _ops.attach_path("/v1/namespaces/ns/sandboxes/sb", "p-1")


class TestAttachments:
    """The sync and async attachments over a scripted router."""

    def test_a_cut_stream_is_resumed_from_the_next_offset_without_loss(self) -> None:
        asked: list[str] = []

        def handler(request: httpx.Request) -> httpx.Response:
            asked.append(request.url.params["fromOffset"])
            if len(asked) == 1:
                # Cut in the middle of the second chunk's frame (a router restarting).
                cut = frame(1, 5, b"world\n")[:8]
                return stream_response(body(attached(0), frame(1, 0, b"hello"), cut, then=httpx.ReadError("cut")))
            return stream_response(body(attached(5, end=11), frame(1, 5, b" done\n"), exited(11)))

        with ProcessAttachment(sync_http(handler), PATH, AttachCursor("p-1", 0, follow=True)) as att:
            assert (att.start_offset, att.bytes_dropped, att.process.id) == (0, False, "0a1b2c3d-1")
            chunks = list(att)
        assert asked == ["0", "5"]
        assert b"".join(c.data for c in chunks) == b"hello done\n"
        assert att.exit is not None and att.exit.exit_code == 0 and att.next_offset == 11

    def test_async_reports_the_first_retained_offset_when_the_asked_one_was_dropped(self) -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            assert request.headers["authorization"] == "Bearer tok"
            assert request.url.params["follow"] == "false"
            return stream_response(abody(attached(100, dropped=True, first=100, end=104), frame(1, 100, b"tail")))

        async def main() -> tuple[int, bool, list[ProcessOutput], int]:
            att = await AsyncProcessAttachment(async_http(handler), PATH, AttachCursor("p-1", 0, False))._open()
            async with att:
                chunks = [c async for c in att]
            return att.start_offset, att.bytes_dropped, chunks, att.next_offset

        start, dropped, chunks, nxt = asyncio.run(main())
        assert (start, dropped, nxt) == (100, True, 104)
        assert chunks == [ProcessOutput("stdout", 100, b"tail")]

    def test_a_bad_header_is_refused_without_reading_further(self) -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            header = struct.pack(">BQI", 1, 0, 2**32 - 1)
            return stream_response(body(attached(0), header, then=AssertionError("read past the bad header")))

        with (
            ProcessAttachment(sync_http(handler), PATH, AttachCursor("p-1", 0, True)) as att,
            pytest.raises(ProtocolError, match="a payload of 4294967295 bytes"),
        ):
            list(att)

    def test_a_server_that_keeps_cutting_without_progress_ends_in_stream_closed(self) -> None:
        calls = 0

        def handler(request: httpx.Request) -> httpx.Response:
            nonlocal calls
            calls += 1
            return stream_response(body(attached(0), then=httpx.RemoteProtocolError("peer closed")))

        att = ProcessAttachment(sync_http(handler), PATH, AttachCursor("p-1", 0, True))
        with pytest.raises(StreamClosed, match="cut 3 times in a row without progress.*from_offset=0"):
            list(att)
        assert calls == _attach.MAX_RESUMES_WITHOUT_PROGRESS

    def test_the_router_s_refusal_raises_its_typed_error(self) -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            error = {"error": {"code": "not_found", "message": "process 'p-1' not found"}}
            return httpx.Response(404, headers={"x-sandbank-error-code": "not_found"}, json=error)

        with pytest.raises(NotFound, match="process 'p-1' not found"):
            ProcessAttachment(sync_http(handler), PATH, AttachCursor("p-1", 0, True))


#: In a LoopbackRouter's script: hold the connection open, sending nothing more.
HOLD = None


class LoopbackRouter:
    """A loopback HTTP server that answers every attach with ``script``: chunks of the body, a
    float to pause that many seconds, or HOLD to send nothing more (until :meth:`close`)."""

    def __init__(self, script: list[bytes | float | None]) -> None:
        self._script = script
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            conn, _ = self._server.accept()
            if self._closed.is_set():  # the wake-up of close()
                conn.close()
                return
            self.connections.append(conn)
            with contextlib.suppress(OSError):  # a client that went away: on to the next
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(4096)
        head = f"HTTP/1.1 200 OK\r\ncontent-type: {ATTACH_CONTENT_TYPE}\r\ntransfer-encoding: chunked\r\n\r\n"
        conn.sendall(head.encode())
        for step in self._script:
            if step is HOLD:
                return
            if isinstance(step, float):
                self._closed.wait(step)  # the silence under test
            else:
                conn.sendall(b"%x\r\n%s\r\n" % (len(step), step))
        conn.sendall(b"0\r\n\r\n")

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closed.set()
        # Closing a listening socket does not wake a thread in accept(); a connection does.
        socket.create_connection(("127.0.0.1", self.port)).close()
        self._thread.join()
        self._server.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[list[bytes | float | None]], LoopbackRouter]]:
    monkeypatch.setattr(_attach, "FRAME_STALL_TIMEOUT_S", 0.2)
    routers: list[LoopbackRouter] = []

    def start(script: list[bytes | float | None]) -> LoopbackRouter:
        routers.append(LoopbackRouter(script))
        return routers[-1]

    try:
        yield start
    finally:
        for router in routers:
            router.close()


#: The attached frame, then half of an output frame, and nothing more.
STALLED_MID_FRAME: list[bytes | float | None] = [attached(0), frame(1, 0, b"hello world")[:8], HOLD]


class TestStalls:
    """A router that stops sending inside a frame: the read is cut after FRAME_STALL_TIMEOUT_S
    and resumed, and an attachment that never gets further ends in StreamClosed, never a wait.
    Between frames a followed process may be quiet for longer: that is waited on."""

    def test_sync(self, loopback: Callable[[list[bytes | float | None]], LoopbackRouter]) -> None:
        router = loopback(STALLED_MID_FRAME)
        att = ProcessAttachment(SyncHttp(Route(Mode.DIRECT, router.url(), "tok")), PATH, AttachCursor("p-1", 0, True))
        with pytest.raises(StreamClosed, match="cut 3 times in a row without progress.*from_offset=0"):
            list(att)
        assert len(router.connections) == _attach.MAX_RESUMES_WITHOUT_PROGRESS

    def test_async(self, loopback: Callable[[list[bytes | float | None]], LoopbackRouter]) -> None:
        router = loopback(STALLED_MID_FRAME)

        async def main() -> None:
            http = AsyncHttp(Route(Mode.DIRECT, router.url(), "tok"))
            att = await AsyncProcessAttachment(http, PATH, AttachCursor("p-1", 0, True))._open()
            async with att:
                with pytest.raises(StreamClosed, match="cut 3 times in a row without progress"):
                    _ = [c async for c in att]

        asyncio.run(main())
        assert len(router.connections) == _attach.MAX_RESUMES_WITHOUT_PROGRESS

    def test_silence_between_frames_is_waited_on(
        self, loopback: Callable[[list[bytes | float | None]], LoopbackRouter]
    ) -> None:
        router = loopback([attached(0), 1.0, frame(1, 0, b"hello"), 1.0, exited(5)])
        with ProcessAttachment(
            SyncHttp(Route(Mode.DIRECT, router.url(), "tok")), PATH, AttachCursor("p-1", 0, True)
        ) as att:
            assert [c.data for c in att] == [b"hello"]
        assert att.exit is not None and len(router.connections) == 1


class TestRequests:
    def test_process_ids_and_terminal_sizes_are_checked_naming_the_argument(self) -> None:
        with pytest.raises(ValueError, match="id: must be 1-64"):
            _ops.get_process("/p", "../x")
        with pytest.raises(ValueError, match="rows: must be an integer from 1 to 10000"):
            _ops.resize_process("/p", "a", 0, 80)
        with pytest.raises(ValueError, match="cols: must be an integer"):
            _protocol.resize_frame(24, 10_001)
        assert json.loads(_protocol.resize_frame(24, 80)) == {"type": "resize", "cols": 80, "rows": 24}
        with pytest.raises(ValueError, match="resize: this process has no terminal"):
            _resize(False, 24, 80)
        start = json.loads(_protocol.start_frame(["sh"], tty=_protocol.terminal_size(30, 100)))
        assert start["tty"] == {"cols": 100, "rows": 30} and start["stdin"] is True
        call = _ops.start_process(
            "/p", ["sh"], env=None, cwd=None, timeout=None, stdin=True, tty={"cols": 80, "rows": 24}
        )
        assert call.json == {"command": ["sh"], "stdin": True, "tty": {"cols": 80, "rows": 24}}

    def test_stdin_travels_as_base64(self) -> None:
        call = _ops.write_stdin("/p", "a", b"\x03\xff", close=True)
        assert call.json == {"data": "A/8=", "encoding": "base64", "close": True}
        assert call.path == "/p/processes/a/stdin" and not call.idempotent

    def test_wait_asks_in_bounded_slices_and_at_least_once(self) -> None:
        waiting = _ops.ProcessWait("/p", "a", 0)
        first = waiting.next_call()
        assert first is not None and first.json == {"timeoutMs": 0}
        assert waiting.next_call() is None
        assert isinstance(waiting.expired(), CommandTimeout)
        forever = _ops.ProcessWait("/p", "a", None).next_call()
        assert forever is not None and forever.json == {"timeoutMs": int(_ops.WAIT_SLICE_S * 1000)}
        assert forever.timeout is not None and forever.timeout > _ops.WAIT_SLICE_S

    def test_port_routes_and_preview_links(self) -> None:
        assert _ops.port_path("/v1/namespaces/ns/sandboxclaims/c", 8000, "/a?b=1") == (
            "/v1/namespaces/ns/sandboxclaims/c/ports/8000/a?b=1"
        )
        with pytest.raises(ValueError, match="port: must be an integer from 1 to 65535"):
            _ops.port_path("/c", 0, "/")
        with pytest.raises(ValueError, match="path: must start with '/'"):
            _ops.port_path("/c", 80, "a")
        link = _ops.parse_preview(
            {"url": "/v1/previews/t0k/", "token": "t0k", "port": 80, "expiresAt": "2026-01-01T00:00:00.000Z"},
            "https://router.example/sandbank/",
        )
        assert link.url == "https://router.example/sandbank/v1/previews/t0k/" and link.expires_at.year == 2026
        with pytest.raises(ProtocolError, match="preview.url"):
            _ops.parse_preview({"url": "https://elsewhere/"}, "https://router.example")

    @pytest.mark.parametrize("port", [True, 0, 65536, "80", None])
    def test_a_preview_port_that_is_no_port_is_refused(self, port: object) -> None:
        body = {"url": "/v1/previews/t0k/", "token": "t0k", "port": port, "expiresAt": "2026-01-01T00:00:00Z"}
        with pytest.raises(ProtocolError, match="preview.port: expected a port from 1 to 65535"):
            _ops.parse_preview(body, "https://router.example")

    def test_through_a_port_only_the_router_s_own_refusals_are_errors(self) -> None:
        sandbox_404 = httpx.Response(404, text="no such page")
        router_403 = httpx.Response(403, headers={"x-sandbank-error-code": "permission_denied"})
        assert not refused(sandbox_404, sandbox_answers=True)
        assert refused(router_403, sandbox_answers=True)
        assert refused(sandbox_404, sandbox_answers=False)
        assert not refused(httpx.Response(200), sandbox_answers=False)
