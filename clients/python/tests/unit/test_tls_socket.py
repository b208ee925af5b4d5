"""The sync WebSocket's TLS socket when two threads use it at once (sandbank/_tls_socket.py).

websockets' sync client reads on a background thread while the caller's thread sends. On a plain
``ssl.SSLSocket`` those calls overlap inside OpenSSL, which forbids it: on a loaded machine about
1 connection in 1,500 lost its upgrade request and hung (tests/integration/test_dev_mode_tls.py
failed with "timed out while waiting for handshake response"). The overlap is what these tests
detect, deterministically: each TLS call is slowed down so that unserialised calls always meet.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest
from websockets.sync.client import ClientConnection, connect
from websockets.sync.server import serve

from sandbank._tls_socket import SerializedTLSClientConnection, SerializedTLSSocket
from tests.pki import make_pki


class OverlapDetector:
    """Counts TLS calls in progress; records the highest number seen at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self.most = 0

    def enter(self) -> None:
        with self._lock:
            self._inside += 1
            self.most = max(self.most, self._inside)

    def leave(self) -> None:
        with self._lock:
            self._inside -= 1


DETECTOR = OverlapDetector()


class WatchedSSLSocket(ssl.SSLSocket):
    """An SSLSocket whose recv and send report themselves and take a little time, so two threads
    that are not serialised are caught inside together."""

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        DETECTOR.enter()
        try:
            time.sleep(0.002)
            return super().recv(buflen, flags)
        finally:
            DETECTOR.leave()

    def send(self, data: bytes, flags: int = 0) -> int:  # type: ignore[override]
        DETECTOR.enter()
        try:
            time.sleep(0.002)
            return super().send(data, flags)
        finally:
            DETECTOR.leave()

    def sendall(self, data: bytes, flags: int = 0) -> None:  # type: ignore[override]
        DETECTOR.enter()
        try:
            time.sleep(0.002)
            super().sendall(data, flags)
        finally:
            DETECTOR.leave()


@pytest.fixture(scope="module")
def contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    pki = make_pki(tmp_path_factory.mktemp("tls-socket"), "IP:127.0.0.1")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(pki.cert_file, pki.key_file)
    client = ssl.create_default_context(cafile=str(pki.ca_file))
    client.sslsocket_class = WatchedSSLSocket
    return server, client


@pytest.fixture
def echo_server(contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> Iterator[str]:
    """A WebSocket echo server on loopback, TLS with the test CA's certificate."""

    def echo(ws: object) -> None:
        for message in ws:  # type: ignore[attr-defined]
            ws.send(message)  # type: ignore[attr-defined]

    with serve(echo, "127.0.0.1", 0, ssl=contexts[0]) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        port = server.socket.getsockname()[1]
        yield f"wss://127.0.0.1:{port}/"
        server.shutdown()


def exchange(url: str, client: ssl.SSLContext, connection: type[ClientConnection] | None = None) -> list[bytes]:
    """Sends 40 messages while the background thread receives their echoes; returns them."""
    DETECTOR.most = 0
    with connect(url, ssl=client, open_timeout=30, create_connection=connection) as ws:
        received: list[bytes] = []
        reader = threading.Thread(target=lambda: received.extend(bytes(ws.recv(timeout=30)) for _ in range(40)))
        reader.start()
        for i in range(40):
            ws.send(i.to_bytes(2, "big") * 500)
        reader.join(timeout=60)
    return received


def test_plain_ssl_sockets_let_the_reader_and_the_sender_inside_openssl_together(
    echo_server: str, contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    """The hazard itself, so the next test is known to be able to fail."""
    exchange(echo_server, contexts[1])
    assert DETECTOR.most >= 2


def test_the_serialised_socket_never_has_two_tls_calls_in_progress(
    echo_server: str, contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    received = exchange(echo_server, contexts[1], SerializedTLSClientConnection)
    assert received == [i.to_bytes(2, "big") * 500 for i in range(40)]
    assert DETECTOR.most == 1


def tls_pair(contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> tuple[SerializedTLSSocket, ssl.SSLSocket]:
    """A serialised client socket and the server's end, handshaken over loopback."""
    listener = socket.create_server(("127.0.0.1", 0))
    with listener:
        raw = socket.create_connection(listener.getsockname())
        accepted: list[ssl.SSLSocket] = []
        server = threading.Thread(
            target=lambda: accepted.append(contexts[0].wrap_socket(listener.accept()[0], server_side=True))
        )
        server.start()
        tls = contexts[1].wrap_socket(raw, server_hostname="127.0.0.1")
        server.join(timeout=30)
    return SerializedTLSSocket(tls), accepted[0]


def test_closing_wakes_a_reader_waiting_for_data(contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    client, server = tls_pair(contexts)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(client.recv(4096)))
    reader.start()
    time.sleep(0.2)  # the reader is waiting: nothing was sent
    client.close()
    reader.join(timeout=10)
    assert not reader.is_alive() and got == [b""]
    server.close()


def test_bytes_arriving_after_our_write_side_is_shut_are_still_decrypted(
    contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """SSLSocket.shutdown drops the TLS session and hands out ciphertext; this keeps it."""
    client, server = tls_pair(contexts)
    client.sendall(b"bye")
    client.shutdown(socket.SHUT_WR)
    assert server.recv(16) == b"bye"
    server.sendall(b"closing frame")
    assert client.recv(64) == b"closing frame"
    client.close()
    server.close()


def test_a_send_the_peer_does_not_read_fails_at_its_deadline(contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    client, server = tls_pair(contexts)
    client.settimeout(0.5)
    with pytest.raises(TimeoutError):
        for _ in range(10_000):  # the peer never reads: buffers fill, then the wait times out
            client.sendall(b"x" * 65536)
    client.close()
    server.close()
