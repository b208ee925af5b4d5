"""The kubectl stand-in (tests/kubectl_relay.py) as upstream's SDK calls it: ``kubectl get
svc/sandbox-router-svc -n <ns>`` first (answered by the real kubectl), then ``kubectl port-forward
svc/sandbox-router-svc <local>:8080 -n <ns>`` with kubeconfig flags after the namespace. Needs no
stack: the far end is an echo server on loopback, the "real kubectl" a script that records its
arguments."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import kubectl_relay
from tests.stack import free_ports, wait_until


@pytest.fixture
def echo_server() -> Iterator[int]:
    """A loopback server that sends back what it receives, upper-cased (so an echo is told apart
    from the stand-in looping the bytes back itself)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(data.upper())

    threading.Thread(target=serve, daemon=True).start()
    yield int(listener.getsockname()[1])
    listener.close()


def fake_kubectl(directory: Path) -> tuple[Path, Path]:
    """A "real kubectl" that writes its arguments as JSON and says it found the Service."""
    record = directory / "real-args.json"
    script = directory / "real-kubectl"
    script.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
        "print('service/sandbox-router-svc')\n"
    )
    script.chmod(0o755)
    return script, record


def run_relay(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    kubectl = kubectl_relay.install(tmp_path)
    return subprocess.run([str(kubectl), *args], capture_output=True, text=True, env={**os.environ, **(env or {})})


def test_a_get_runs_the_real_kubectl_with_the_same_arguments(tmp_path: Path) -> None:
    real, record = fake_kubectl(tmp_path)
    args = ["get", "svc/sandbox-router-svc", "-n", "agent-sandbox-system", "--kubeconfig", "/k"]
    r = run_relay(tmp_path, *args, env={kubectl_relay.REAL_KUBECTL_ENV: str(real)})
    assert (r.returncode, r.stdout) == (0, "service/sandbox-router-svc\n"), r.stderr
    assert json.loads(record.read_text()) == args


def test_without_a_real_kubectl_other_commands_are_refused(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != kubectl_relay.REAL_KUBECTL_ENV}
    r = subprocess.run([str(kubectl_relay.install(tmp_path)), "get", "svc/x"], capture_output=True, text=True, env=env)
    assert r.returncode == 2
    assert "only `port-forward" in r.stderr


@pytest.mark.parametrize(
    "namespace_args",
    [
        ["-n", "agent-sandbox-system"],
        ["--namespace=agent-sandbox-system"],
        ["--namespace", "agent-sandbox-system"],
        # sandbank's own dev mode: its flags in its order
        ["-n", "agent-sandbox-system", "--address", "127.0.0.1", "--context", "c"],
    ],
)
def test_the_sdks_port_forward_argv_is_forwarded_and_logged(
    tmp_path: Path, echo_server: int, namespace_args: list[str]
) -> None:
    (local,) = free_ports(1)
    log = tmp_path / "forwarded.jsonl"
    kubectl = kubectl_relay.install(tmp_path)
    # The SDK's order: the Service, the ports, the namespace, then its kubeconfig flags.
    argv = ["port-forward", "svc/sandbox-router-svc", f"{local}:8080", *namespace_args, "--kubeconfig=/k"]
    env = {**os.environ, kubectl_relay.TARGET_ENV: f"127.0.0.1:{echo_server}", kubectl_relay.LOG_ENV: str(log)}
    proc = subprocess.Popen([str(kubectl), *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(
            "stand-in listening", lambda: socket.create_connection(("127.0.0.1", local), 1).close() is None, proc=proc
        )
        with socket.create_connection(("127.0.0.1", local), 10) as conn:
            conn.sendall(b"ping")
            conn.settimeout(30)
            assert conn.recv(16) == b"PING"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert kubectl_relay.forwarded(log) == [
        {"namespace": "agent-sandbox-system", "service": "sandbox-router-svc", "remote_port": "8080"}
    ]


def test_without_a_target_a_port_forward_is_logged_and_run_by_the_real_kubectl(tmp_path: Path) -> None:
    """On a real cluster (the e2e suite) the real kubectl forwards; the stand-in only records what
    it was asked, so the tests check the SDK's tunnel the same way there."""
    real, record = fake_kubectl(tmp_path)
    log = tmp_path / "forwarded.jsonl"
    args = ["port-forward", "svc/sandbox-router-svc", "40123:8080", "-n", "agent-sandbox-system", "--kubeconfig", "/k"]
    env = {k: v for k, v in os.environ.items() if k != kubectl_relay.TARGET_ENV}
    env |= {kubectl_relay.REAL_KUBECTL_ENV: str(real), kubectl_relay.LOG_ENV: str(log)}
    r = subprocess.run([str(kubectl_relay.install(tmp_path)), *args], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(record.read_text()) == args
    assert kubectl_relay.forwarded(log) == [
        {"namespace": "agent-sandbox-system", "service": "sandbox-router-svc", "remote_port": "8080"}
    ]
