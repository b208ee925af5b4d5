"""A stand-in for ``kubectl port-forward`` where no kubelet can forward (no real node): the tests
point ``$KUBECTL`` at it. Like kubectl it listens on ``--address``:<local port> and carries every
connection's bytes as they are, both ways, to the far end, here ``$SANDBANK_TEST_FORWARD_TO``
(host:port of a router on loopback) instead of the Service's pod; it appends what it was asked to
forward (namespace, service, remote port) as one JSON line to ``$SANDBANK_TEST_FORWARD_LOG``.
Whatever speaks through it, TLS or plain HTTP, is the client's choice, as through kubectl."""

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


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] != "port-forward" or not argv[1].startswith("svc/"):
        print(f"kubectl stand-in: only `port-forward svc/<name> <local>:<remote>`, got {argv}", file=sys.stderr)
        return 2
    local, _, remote = argv[2].partition(":")
    options = dict(zip(argv[3::2], argv[4::2], strict=False))
    host, _, port = os.environ[TARGET_ENV].rpartition(":")
    with open(os.environ[LOG_ENV], "a") as log:
        entry = {"namespace": options.get("-n", ""), "service": argv[1][4:], "remote_port": remote}
        log.write(json.dumps(entry) + "\n")
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
