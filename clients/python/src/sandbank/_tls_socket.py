"""A TLS socket that two threads may use at once: websockets' sync client reads on a background
thread while the caller's thread sends (stdin, signals, the opening handshake itself).

OpenSSL forbids using one connection from two threads at the same time, and CPython's ``ssl``
module does not serialise ``recv`` against ``send`` (python/cpython#151508). A send racing a read
that is processing the server's post-handshake TLS 1.3 messages could lose the sent bytes: the
router never saw the WebSocket upgrade request and the client gave up after ``open_timeout``
(about 1 in 1,500 connections on a loaded machine). Here the socket is non-blocking and every TLS
call runs under one lock; waiting for the network happens outside it, so a reader blocked on an
idle connection never holds up a writer. The cost is one lock round per call.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time

from websockets.sync.client import ClientConnection


class SerializedTLSSocket:
    """Wraps a connected, handshaken ``ssl.SSLSocket``; implements what websockets' sync
    connection calls on its socket."""

    def __init__(self, tls: ssl.SSLSocket) -> None:
        self._tls = tls
        self._lock = threading.Lock()
        self._timeout: float | None = tls.gettimeout()
        self._closed = False
        tls.setblocking(False)

    def fileno(self) -> int:
        return self._tls.fileno()

    def getsockname(self) -> object:
        return self._tls.getsockname()

    def getpeername(self) -> object:
        return self._tls.getpeername()

    def settimeout(self, timeout: float | None) -> None:
        """Bounds the waits of later ``sendall`` calls (websockets sets it while closing); the
        socket itself stays non-blocking."""
        self._timeout = timeout

    def recv(self, bufsize: int) -> bytes:
        while True:
            with self._lock:
                if self._closed:
                    return b""
                try:
                    return self._tls.recv(bufsize)
                except ssl.SSLWantReadError:
                    events = select.POLLIN
                except ssl.SSLWantWriteError:
                    events = select.POLLOUT
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    # close_notify, or the peer closed without it: both end the stream, as
                    # wrap_socket's suppress_ragged_eofs does.
                    return b""
            # A read has no deadline: websockets ends it by closing the socket (close() below).
            if not self._wait(events, None):
                return b""

    def sendall(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while view:
            with self._lock:
                if self._closed:
                    raise OSError("the connection is closed")
                try:
                    sent = self._tls.send(view)
                except ssl.SSLWantWriteError:
                    events = select.POLLOUT
                except ssl.SSLWantReadError:
                    events = select.POLLIN
                else:
                    view = view[sent:]
                    continue
            if not self._wait(events, deadline):
                raise OSError("the connection is closed")

    def shutdown(self, how: int) -> None:
        """Shuts the TCP direction(s) down but keeps the TLS session, so the bytes that still
        arrive are decrypted (``SSLSocket.shutdown`` would drop it and hand out ciphertext)."""
        with self._lock:
            if not self._closed:
                socket.socket.shutdown(self._tls, how)

    def close(self) -> None:
        # Shutting down first wakes a reader waiting in _wait (the descriptor turns readable).
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with contextlib.suppress(OSError):  # not connected any more: nothing to wake
                socket.socket.shutdown(self._tls, socket.SHUT_RDWR)
            self._tls.close()

    def _wait(self, events: int, deadline: float | None) -> bool:
        """Waits until the socket is ready for ``events``; False once it is closed. Raises
        TimeoutError when ``deadline`` passes."""
        poller = select.poll()
        try:
            poller.register(self._tls.fileno(), events)
        except (OSError, ValueError):
            return False  # closed by another thread meanwhile
        while True:
            if self._closed:
                return False
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError("timed out sending on the connection")
            # Wake up now and then to notice a close that raced the registration.
            ready = poller.poll(1000 if remaining is None else min(1000, int(remaining * 1000) + 1))
            if ready:
                return not self._closed


class SerializedTLSClientConnection(ClientConnection):
    """websockets' sync client connection over a :class:`SerializedTLSSocket` when TLS is in use
    (``connect(..., create_connection=SerializedTLSClientConnection)``)."""

    def __init__(self, sock: socket.socket, *args: object, **kwargs: object) -> None:
        if isinstance(sock, ssl.SSLSocket):
            sock = SerializedTLSSocket(sock)  # type: ignore[assignment]
        super().__init__(sock, *args, **kwargs)  # type: ignore[arg-type]
