"""A stand-in for ``kubectl port-forward`` where no kubelet can forward (no real node): the tests
point ``$KUBECTL`` at it. Like kubectl it listens on ``--address``:<local port> and carries every
connection's bytes as they are, both ways, to the far end, here ``$SANDBANK_TEST_FORWARD_TO``
(host:port of a router on loopback) instead of the Service's pod; it appends what it was asked to
forward (namespace, service, remote port) as one JSON line to ``$SANDBANK_TEST_FORWARD_LOG``.
Whatever speaks through it, TLS or plain HTTP, is the client's choice, as through kubectl.

Flags may come in any order, with a separate or an ``=`` value, and kubeconfig flags
(``--kubeconfig``, ``--context``, ...) are accepted and ignored, as the clients that call it pass
them. Any other command (upstream's SDK checks ``kubectl get svc/...`` before it forwards) runs the
real kubectl named by ``$SANDBANK_TEST_REAL_KUBECTL``, unchanged; without it, it is refused.
Without ``$SANDBANK_TEST_FORWARD_TO`` (a real cluster, whose kubelet forwards) a port-forward is
logged and then run by that real kubectl too, so tests check what a client forwarded either way."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import sys
import threading
import time
from pathlib import Path

TARGET_ENV = "SANDBANK_TEST_FORWARD_TO"
LOG_ENV = "SANDBANK_TEST_FORWARD_LOG"
REAL_KUBECTL_ENV = "SANDBANK_TEST_REAL_KUBECTL"
# Flags of kubectl that take a value; ``--flag value`` and ``--flag=value`` are both accepted.
_VALUE_FLAGS = {
    "-n",
    "--namespace",
    "--address",
    "--kubeconfig",
    "--context",
    "--cluster",
    "--user",
    "--server",
    "--token",
}


def install(directory: Path) -> Path:
    """An executable ``kubectl`` in ``directory`` that runs this module with this interpreter."""
    path = directory / "kubectl"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def forwarded(log: Path) -> list[dict[str, str]]:
    """What the stand-in was asked to forward, one entry per start."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line]


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        # The other direction may still be talking: end only this one.
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _serve(conn: socket.socket, target: tuple[str, int]) -> None:
    try:
        upstream = socket.create_connection(target, timeout=10)
    except OSError:
        conn.close()
        return
    upstream.settimeout(None)
    back = threading.Thread(target=_pipe, args=(upstream, conn), daemon=True)
    back.start()
    _pipe(conn, upstream)
    back.join()
    conn.close()
    upstream.close()


def _exit_with_parent(parent: int) -> None:
    """kubectl dies with a client that is killed outright (the tunnel is its child); so does this."""
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(0)


def parse(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """kubectl's arguments split into positional ones and flags (``-n``/``--namespace`` as one)."""
    positional: list[str] = []
    options: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if arg.startswith("-") and eq and name in _VALUE_FLAGS:
            options[name] = value
        elif arg in _VALUE_FLAGS and i + 1 < len(argv):
            options[arg] = argv[i + 1]
            i += 1
        else:
            positional.append(arg)
        i += 1
    if "--namespace" in options:
        options["-n"] = options.pop("--namespace")
    return positional, options


def main(argv: list[str]) -> int:
    positional, options = parse(argv)
    if positional[:1] != ["port-forward"]:
        real = os.environ.get(REAL_KUBECTL_ENV)
        if real:
            os.execv(real, [real, *argv])
        print(f"kubectl stand-in: only `port-forward svc/<name> <local>:<remote>`, got {argv}", file=sys.stderr)
        return 2
    if len(positional) != 3 or not positional[1].startswith("svc/") or ":" not in positional[2]:
        print(f"kubectl stand-in: only `port-forward svc/<name> <local>:<remote>`, got {argv}", file=sys.stderr)
        return 2
    local, _, remote = positional[2].partition(":")
    with open(os.environ[LOG_ENV], "a") as log:
        entry = {"namespace": options.get("-n", ""), "service": positional[1][4:], "remote_port": remote}
        log.write(json.dumps(entry) + "\n")
    real = os.environ.get(REAL_KUBECTL_ENV)
    if TARGET_ENV not in os.environ and real:
        # A real cluster: its kubectl forwards; this only recorded what was asked.
        os.execv(real, [real, *argv])
    host, _, port = os.environ[TARGET_ENV].rpartition(":")
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((options.get("--address", "127.0.0.1"), int(local)))
    listener.listen(64)
    print(f"Forwarding from 127.0.0.1:{local} -> {remote}", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_serve, args=(conn, (host, int(port))), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
