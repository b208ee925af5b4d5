"""Terminals, background processes, ports and preview links (#19) from the Python client, against
the real stack: a PTY shell that sees its size change and Ctrl-C, a background process that
outlives the client that started it and is read by another, the agent's limits as typed errors,
and an HTTP server in the sandbox reached through the port route and a preview link."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import httpx
import pytest

from sandbank import AsyncSandbox, Process, Sandbox
from sandbank.errors import FailedPrecondition, NotFound, PermissionDenied, ResourceExhausted, SandbankError
from tests.stack import MAX_BACKGROUND_PROCESSES, TEMPLATE, Stack, free_ports

#: How long any one expected output may take on a loaded machine.
PATIENCE_S = 60.0


@pytest.fixture(scope="module")
def sb(stack: Stack) -> Iterator[Sandbox]:
    with Sandbox.create(TEMPLATE, namespace=stack.namespace, api_url=stack.router_url, token=stack.token) as s:
        yield s


def attach(stack: Stack, name: str) -> Sandbox:
    return Sandbox.attach(name, namespace=stack.namespace, api_url=stack.router_url, token=stack.token)


@contextlib.contextmanager
def bounded(proc: Process, seconds: float = PATIENCE_S) -> Iterator[None]:
    """Closes ``proc``'s stream if the block is still reading after ``seconds``: a missing output
    fails the test (the read ends with an error) instead of hanging it. One bound per expected
    output: a bound around several would add up their waits on a loaded machine."""
    timer = threading.Timer(seconds, proc.close)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def read_until(proc: Process, pattern: str) -> str:
    """Terminal output up to and including the first match of ``pattern``, within PATIENCE_S."""
    seen = ""
    try:
        with bounded(proc):
            for chunk in proc:
                assert chunk.stream == "stdout"  # a terminal has one output stream
                seen += chunk.text
                if re.search(pattern, seen):
                    return seen
    except SandbankError as e:
        raise AssertionError(f"no {pattern!r} before {e}; the terminal showed {seen!r}") from e
    raise AssertionError(f"the process exited before {pattern!r}; it printed {seen!r}")


def test_pty_shell_sees_its_size_change_and_ctrl_c_interrupts_the_foreground(sb: Sandbox) -> None:
    with sb.commands.spawn(["sh"], pty=True, rows=24, cols=80, env={"PS1": "$ "}) as proc:
        proc.send_stdin("stty size\n")
        read_until(proc, r"\b24 80\r?\n")
        proc.resize(40, 120)
        proc.send_stdin("stty size\n")
        read_until(proc, r"\b40 120\r?\n")
        # The echo's output (42), not the terminal echoing the typed line: the shell runs the line.
        proc.send_stdin("echo sleeping-$((6*7)); sleep 100\n")
        read_until(proc, r"sleeping-42")
        started = time.monotonic()
        proc.send_stdin(b"\x03")
        proc.send_stdin("echo status-$?\n")
        read_until(proc, r"status-130")
        assert time.monotonic() - started < PATIENCE_S
        proc.send_stdin("exit 3\n")
        result = proc.wait(timeout=PATIENCE_S)
    assert (result.exit_code, result.stderr_bytes) == (3, b"")


def test_a_background_process_outlives_its_client_and_another_reads_it_from_offset_0(sb: Sandbox, stack: Stack) -> None:
    first = attach(stack, sb.name)
    proc = first.commands.start(["sh", "-c", "sleep 1; echo done"])
    assert proc.info.running and proc.id
    first.close()  # an attached handle: the claim stays, and so does the process

    second = attach(stack, sb.name)
    try:
        with second.commands.attach(proc.id, from_offset=0, follow=True) as output:
            assert (output.start_offset, output.bytes_dropped) == (0, False)
            data = b"".join(chunk.data for chunk in output)
        assert data == b"done\n"
        assert output.exit is not None and output.exit.exit_code == 0 and output.next_offset == len(data)
        info = second.commands.wait(proc.id, timeout=PATIENCE_S)
        assert (info.state, info.exit and info.exit.exit_code, info.end_offset) == ("exited", 0, 5)
        listed = {p.id: p for p in second.commands.list()}
        assert listed[proc.id].state == "exited"
        # Resuming from the offset after the last byte read: nothing more, and the exit again.
        with second.commands.attach(proc.id, from_offset=output.next_offset) as rest:
            assert list(rest) == [] and rest.exit is not None
        second.commands.remove(proc.id)
        with pytest.raises(NotFound):
            second.commands.get(proc.id)
    finally:
        second.close()


def test_stdin_signals_state_and_a_background_terminal(sb: Sandbox) -> None:
    cat = sb.commands.start(["cat"], stdin=True)
    cat.write_stdin(b"line one\n")
    cat.write_stdin("line two\n", close=True)
    assert cat.wait(timeout=PATIENCE_S).exit is not None
    with cat.attach(follow=False) as out:
        assert b"".join(c.data for c in out) == b"line one\nline two\n"

    sleeper = sb.commands.start(["sleep", "100"])
    assert {p.id: p.state for p in sb.commands.list()}[sleeper.id] == "running"
    with pytest.raises(FailedPrecondition):
        sleeper.remove()
    sleeper.signal("SIGTERM")
    info = sleeper.wait(timeout=PATIENCE_S)
    assert info.exit is not None and info.exit.signal == "SIGTERM"

    shell = sb.commands.start(["sh"], pty=True, rows=30, cols=100)
    shell.resize(50, 132)
    shell.write_stdin("stty size; exit 4\n")
    info = shell.wait(timeout=PATIENCE_S)
    assert info.exit is not None and info.exit.exit_code == 4
    with shell.attach(follow=False) as out:
        screen = "".join(c.text for c in out)
    # The size follows the echoed line, or the prompt when the shell printed it after the echo.
    assert re.search(r"\b50 132\r?\n", screen), screen
    for p in (cat, sleeper, shell):
        p.remove()


def test_the_agent_s_limit_is_a_typed_error(sb: Sandbox) -> None:
    started = [
        sb.commands.start(["sleep", "100"])
        for _ in range(MAX_BACKGROUND_PROCESSES - sum(p.running for p in sb.commands.list()))
    ]
    try:
        with pytest.raises(ResourceExhausted, match="too many background processes"):
            sb.commands.start(["sleep", "100"])
    finally:
        for p in started:
            p.kill()
            p.wait(timeout=PATIENCE_S)
            p.remove()


def test_a_sandbox_server_through_the_port_route_and_a_preview_link(sb: Sandbox, stack: Stack) -> None:
    (port,) = free_ports(1)
    sb.files.write("site/hello.txt", "hi from the sandbox\n")
    server = sb.commands.start(["python3", "-u", "-m", "http.server", str(port), "--bind", "127.0.0.1"], cwd="site")
    try:
        with server.attach() as log:  # listening once it says so
            for chunk in log:
                if b"Serving HTTP" in chunk.data:
                    break
        r = sb.ports.get(port, "/hello.txt")
        assert (r.status_code, r.text) == (200, "hi from the sandbox\n")
        assert r.headers["x-content-type-options"] == "nosniff"
        # The sandbox's own 404 is its answer, not an error.
        assert sb.ports.request(port, "GET", "/missing").status_code == 404
        # The route needs the API token; the agent's ports are never reachable.
        assert httpx.get(sb.ports.url(port, "/hello.txt")).status_code == 401
        with pytest.raises(PermissionDenied, match="sandbox agent"):
            sb.ports.get(stack.agent_grpc_port)

        link = sb.ports.preview(port, ttl_seconds=60)
        assert link.port == port and link.url.startswith(stack.router_url + "/v1/previews/")
        with urllib.request.urlopen(link.url + "hello.txt", timeout=PATIENCE_S) as page:
            assert page.read() == b"hi from the sandbox\n"
        forged = link.url.replace(link.token, link.token[:-2] + ("AA" if link.token[-2:] != "AA" else "BB"))
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged + "hello.txt", timeout=PATIENCE_S)
        assert refused.value.code == 401

        short = sb.ports.preview(port, ttl_seconds=1)
        with urllib.request.urlopen(short.url + "hello.txt", timeout=PATIENCE_S) as page:
            assert page.status == 200
        # Expiry is a time, not an event: wait until it has passed.
        time.sleep(max(0.0, short.expires_at.timestamp() - time.time()) + 0.2)
        with pytest.raises(urllib.error.HTTPError) as expired:
            urllib.request.urlopen(short.url + "hello.txt", timeout=PATIENCE_S)
        assert expired.value.code == 401
    finally:
        server.kill()
        server.wait(timeout=PATIENCE_S)
        server.remove()


def test_async_background_attach_and_ports(sb: Sandbox, stack: Stack) -> None:
    async def main() -> None:
        async with await AsyncSandbox.attach(
            sb.name, namespace=stack.namespace, api_url=stack.router_url, token=stack.token
        ) as asb:
            proc = await asb.commands.start("printf 'a\\nb\\n'; exit 7")
            info = await proc.wait(timeout=PATIENCE_S)
            assert info.exit is not None and info.exit.exit_code == 7
            async with await proc.attach(from_offset=2) as out:
                assert [c.data async for c in out] == [b"b\n"]
                assert out.start_offset == 2 and out.exit is not None
            await proc.remove()
            with pytest.raises(PermissionDenied, match="sandbox agent"):
                await asb.ports.preview(stack.agent_grpc_port)
            term = await asb.commands.spawn(["sh"], pty=True, rows=7, cols=33)
            await term.resize(8, 34)
            await term.send_stdin("stty size; exit\n")
            result = await term.wait(timeout=PATIENCE_S)
            assert re.search(r"\b8 34\r?\n", result.stdout) and result.stderr_bytes == b"", result
            assert (await asb.ports.url(8000, "/x?y=1")).endswith(f"/sandboxclaims/{sb.name}/ports/8000/x?y=1")

    asyncio.run(main())
