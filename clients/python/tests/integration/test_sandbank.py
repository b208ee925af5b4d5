"""sandbank.Sandbox / AsyncSandbox against the real stack."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import time
from collections.abc import Iterator

import pytest

from sandbank import AsyncSandbox, Sandbox
from sandbank.errors import (
    AlreadyExists,
    CommandFailed,
    CommandTimeout,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    WarmPoolNotFound,
)
from tests.stack import POOL, TEMPLATE, Stack


@pytest.fixture(scope="module")
def sb(stack: Stack) -> Iterator[Sandbox]:
    with Sandbox.create(TEMPLATE, namespace=stack.namespace, api_url=stack.router_url, token=stack.token) as s:
        yield s


def test_create_reports_the_claim_and_mode(sb: Sandbox, stack: Stack) -> None:
    assert sb.mode == "direct" and sb.namespace == stack.namespace
    claim = stack.get("sandboxclaim", sb.name)
    assert claim is not None
    conditions = {c["type"]: c["status"] for c in claim["status"]["conditions"]}  # type: ignore[index]
    assert conditions["Ready"] == "True"


def test_run_argv_shell_stdin_env_cwd(sb: Sandbox) -> None:
    r = sb.commands.run(["python3", "-c", "import sys; print(sys.argv[1:])", "a b", "c"])
    assert (r.stdout, r.exit_code, r.timed_out) == ("['a b', 'c']\n", 0, False)
    sb.files.mkdir("cwd-here")
    r = sb.commands.run(
        "echo $GREETING from $(basename $(pwd)); echo oops >&2; exit 3", env={"GREETING": "hi"}, cwd="cwd-here"
    )
    assert (r.stdout, r.stderr, r.exit_code, r.ok) == ("hi from cwd-here\n", "oops\n", 3, False)
    with pytest.raises(CommandFailed, match="exited with 3: oops"):
        r.check()
    r = sb.commands.run(["tr", "a-z", "A-Z"], stdin="shout\n")
    assert r.stdout == "SHOUT\n"
    binary = bytes(range(256))
    assert sb.commands.run(["cat"], stdin=binary).stdout_bytes == binary


def test_run_timeout_and_truncation(sb: Sandbox) -> None:
    started = time.monotonic()
    r = sb.commands.run("sleep 30", timeout=0.5)
    assert r.timed_out and not r.ok and time.monotonic() - started < 10
    with pytest.raises(CommandTimeout):
        r.check()
    r = sb.commands.run(["python3", "-c", "print('x' * 100000)"], max_output_bytes=1000)
    assert r.truncated and r.stdout_truncated and len(r.stdout_bytes) == 1000


def test_spawn_streams_output_and_takes_stdin(sb: Sandbox) -> None:
    code = (
        "import sys\n"
        "for line in sys.stdin:\n"
        "    print(line.strip().upper(), flush=True)\n"
        "    print('err', file=sys.stderr, flush=True)\n"
    )
    with sb.commands.spawn(["python3", "-u", "-c", code]) as proc:
        assert proc.pid > 0
        proc.send_stdin("one\n")
        seen = {"stdout": "", "stderr": ""}
        for chunk in proc:
            seen[chunk.stream] += chunk.text
            if seen == {"stdout": "ONE\n", "stderr": "err\n"}:
                break
        assert seen == {"stdout": "ONE\n", "stderr": "err\n"}
        proc.send_stdin(b"two\n")
        proc.close_stdin()
        result = proc.wait(timeout=30)
    assert result.exit_code == 0 and result.stdout == "TWO\n" and result.stderr == "err\n"


def test_spawn_signal_and_local_wait_timeout(sb: Sandbox) -> None:
    proc = sb.commands.spawn(["sleep", "60"], stdin=False)
    with pytest.raises(CommandTimeout):
        proc.wait(timeout=0.5)
    proc.signal("TERM")
    result = proc.wait(timeout=30)
    assert result.signal == "SIGTERM" and result.exit_code != 0


def test_files_streamed_write_read_and_metadata(sb: Sandbox, tmp_path: os.PathLike[str]) -> None:
    big = os.urandom(5 * 1024 * 1024 + 17)
    info = sb.files.write("data/big.bin", io.BytesIO(big), mode=0o600)
    assert (info.path, info.size, info.type, info.mode) == ("data/big.bin", len(big), "file", 0o600)
    digest = hashlib.sha256()
    chunks = 0
    for chunk in sb.files.iter_read("data/big.bin", chunk_size=1 << 16):
        digest.update(chunk)
        chunks += 1
    assert digest.hexdigest() == hashlib.sha256(big).hexdigest() and chunks > 1
    local = os.path.join(tmp_path, "copy.bin")
    assert sb.files.download("data/big.bin", local) == len(big)
    assert sb.files.upload(local, "data/copy.bin").size == len(big)
    sb.files.write("data/note.txt", "text ✓")
    assert sb.files.read_text("data/note.txt") == "text ✓"
    assert sorted(e.name for e in sb.files.list("data")) == ["big.bin", "copy.bin", "note.txt"]
    assert sb.files.stat("data").is_dir
    assert sb.files.exists("data/note.txt") and not sb.files.exists("data/missing")
    with pytest.raises(NotFound):
        sb.files.read("data/missing")
    assert sb.files.mkdir("data/deep/er").is_dir
    with pytest.raises(AlreadyExists):
        sb.files.mkdir("data/deep/er", parents=False)
    sb.files.remove("data", recursive=True)
    assert not sb.files.exists("data")
    with pytest.raises(PermissionDenied):
        sb.files.read("../../etc/passwd")


def test_attach_detach_and_terminate(stack: Stack) -> None:
    stack.apply(
        f"""
apiVersion: extensions.agents.x-k8s.io/v1alpha1
kind: SandboxClaim
metadata: {{name: attached}}
spec: {{sandboxTemplateRef: {{name: {TEMPLATE}}}}}
""",
    )
    with Sandbox.attach("attached", namespace=stack.namespace, api_url=stack.router_url, token=stack.token) as s:
        assert s.commands.run("echo attached").stdout == "attached\n"
    assert stack.get("sandboxclaim", "attached") is not None  # closing an attached handle keeps the claim
    s = Sandbox.attach("attached", namespace=stack.namespace, api_url=stack.router_url, token=stack.token)
    s.terminate()
    assert stack.get("sandboxclaim", "attached") is None


def test_create_from_a_pool_and_typed_claim_errors(stack: Stack) -> None:
    with Sandbox.create(warmpool=POOL, namespace=stack.namespace, api_url=stack.router_url, token=stack.token) as s:
        assert s.commands.run("true").exit_code == 0
    with pytest.raises(WarmPoolNotFound):
        Sandbox.create(warmpool="no-such-pool", namespace=stack.namespace, api_url=stack.router_url)
    with pytest.raises(WarmPoolNotFound) as err:
        Sandbox.create(
            TEMPLATE, warmpool="no-such-pool", namespace=stack.namespace, api_url=stack.router_url, ready_timeout=60
        )
    assert err.value.reason == "WarmPoolNotFound"


def test_a_bad_token_is_unauthenticated(stack: Stack) -> None:
    with Sandbox.create(
        TEMPLATE, namespace=stack.namespace, api_url=stack.router_url, token="wrong-token-wrong-token"
    ) as s:
        with pytest.raises(Unauthenticated):
            s.commands.run("true")
        with pytest.raises(Unauthenticated):
            s.commands.spawn("true")


def test_async_sandbox_runs_streams_and_moves_files(stack: Stack) -> None:
    async def main() -> None:
        s = await AsyncSandbox.create(TEMPLATE, namespace=stack.namespace, api_url=stack.router_url, token=stack.token)
        async with s:
            r = await s.commands.run(["sh", "-c", "echo async; exit 2"])
            assert (r.stdout, r.exit_code) == ("async\n", 2)
            results = await asyncio.gather(*(s.commands.run(["echo", str(i)]) for i in range(5)))
            assert [x.stdout for x in results] == [f"{i}\n" for i in range(5)]
            proc = await s.commands.spawn(["cat"])
            await proc.send_stdin("piped\n")
            await proc.close_stdin()
            out = b""
            async for chunk in proc:
                out += chunk.data
            assert out == b"piped\n" and proc.result is not None and proc.result.exit_code == 0
            await s.files.write("a/b.txt", b"async file")
            assert await s.files.read("a/b.txt") == b"async file"
            assert [e.name for e in await s.files.list("a")] == ["b.txt"]
            assert await s.files.exists("a/b.txt") and not await s.files.exists("a/c.txt")
            await s.files.remove("a", recursive=True)
            name = s.name
        assert stack.get("sandboxclaim", name) is None

    asyncio.run(main())
