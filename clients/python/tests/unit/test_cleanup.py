"""What bounds the way out: a watch stopped from another thread (a cancelled asyncio task), and
the delete of a claim that neither Ctrl-C nor a slow API server can abandon or stretch. Against a
local HTTP server that speaks just enough of the API, and a fake for the delete; the real stack is
in tests/integration/test_interrupts.py."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from kubernetes import client as k8s

from sandbank import _lifecycle
from sandbank._kube import Abort, Aborted, Kube
from sandbank.errors import KubernetesError


class StallingWatch(BaseHTTPRequestHandler):
    """Answers a watch with one event (the claim, not Ready) and then sends nothing more."""

    protocol_version = "HTTP/1.1"
    watching = threading.Event()
    release = threading.Event()
    #: Called when a watch request arrives, before it is answered.
    on_request: list[Callable[[], None]] = []

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        assert "watch=true" in self.path
        for hook in StallingWatch.on_request:
            hook()
        event = {"type": "MODIFIED", "object": {"metadata": {"name": "c", "resourceVersion": "2"}, "status": {}}}
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        line = json.dumps(event).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        self.wfile.flush()
        StallingWatch.watching.set()
        StallingWatch.release.wait(120)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stalling_api() -> Iterator[Kube]:
    StallingWatch.watching.clear()
    StallingWatch.release.clear()
    StallingWatch.on_request.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), StallingWatch)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cfg = k8s.Configuration()
    cfg.host = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield Kube(k8s.ApiClient(configuration=cfg))
    finally:
        StallingWatch.release.set()
        server.shutdown()
        server.server_close()


def wait_in_thread(kube: Kube, abort: Abort) -> tuple[threading.Thread, list[object]]:
    """wait_claim_ready in a thread, as AsyncSandbox runs it; 120 s of watch ahead of it."""
    outcome: list[object] = []

    def wait() -> None:
        try:
            outcome.append(kube.wait_claim_ready("ns", "c", 120, {"metadata": {"resourceVersion": "1"}}, abort))
        except BaseException as e:
            outcome.append(e)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    return waiter, outcome


def test_an_abort_stops_a_watch_the_server_keeps_silent(stalling_api: Kube) -> None:
    abort = Abort()
    waiter, outcome = wait_in_thread(stalling_api, abort)
    assert StallingWatch.watching.wait(30), "the watch never reached the server"
    # The waiter has read the first event and blocks on the silent socket.
    assert waiter.is_alive()
    abort.set()
    waiter.join(30)
    assert not waiter.is_alive(), "the watch did not stop when aborted"
    assert len(outcome) == 1 and isinstance(outcome[0], Aborted)


def test_an_abort_while_the_watch_request_is_on_its_way_is_not_lost(stalling_api: Kube) -> None:
    abort = Abort()
    # Set after the waiter's last check and before it holds the response it could shut down.
    StallingWatch.on_request.append(abort.set)
    waiter, outcome = wait_in_thread(stalling_api, abort)
    waiter.join(30)
    assert not waiter.is_alive(), "the watch did not stop when aborted"
    assert len(outcome) == 1 and isinstance(outcome[0], Aborted)


def test_a_result_is_handed_over_only_if_not_aborted_first() -> None:
    first, second = Abort(), Abort()
    assert first.hand_over() and first.handed_over
    second.set()
    assert not second.hand_over() and not second.handed_over
    woken: list[str] = []
    second.add_waker(lambda: woken.append("at once"))  # registered after set(): called at once
    assert woken == ["at once"]


class SlowDelete:
    """A Kube whose delete_claim blocks until released; records what happened."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.deleted = threading.Event()

    def delete_claim(self, namespace: str, name: str, timeout: float | None = None) -> bool:
        self.entered.set()
        if not self.release.wait(60):
            raise KubernetesError("released too late", status=None)
        self.deleted.set()
        return True


def test_ctrl_c_during_the_delete_lets_it_finish_then_is_raised() -> None:
    kube = SlowDelete()
    seen_when_raised: list[bool] = []

    def interrupt_then_answer() -> None:
        kube.entered.wait(30)
        os.kill(os.getpid(), signal.SIGINT)  # to this process: the main thread gets KeyboardInterrupt
        # The delete answers after the interrupt, well within the grace.
        threading.Timer(0.3, kube.release.set).start()

    assert threading.current_thread() is threading.main_thread()
    # Ctrl-C as in a terminal, whatever this run inherited (a background job starts with SIGINT ignored).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Thread(target=interrupt_then_answer, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            try:
                _lifecycle.delete_bounded(kube, "ns", "c")  # type: ignore[arg-type]
            finally:
                seen_when_raised.append(kube.deleted.is_set())
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen_when_raised == [True], "KeyboardInterrupt came out before the delete was done"


def test_an_unanswered_delete_is_given_up_after_the_grace_when_urgent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_lifecycle, "INTERRUPT_GRACE_S", 0.5)
    kube = SlowDelete()
    try:
        error = _lifecycle.delete_on_the_way_out(kube, "ns", "sandbox-claim-1", urgent=True)  # type: ignore[arg-type]
    finally:
        kube.release.set()
    assert kube.entered.is_set() and not kube.deleted.is_set()
    assert isinstance(error, KubernetesError)
    assert "kubectl delete sandboxclaim sandbox-claim-1 -n ns" in str(error)


def test_hurry_shortens_the_wait_of_a_delete_under_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_lifecycle, "INTERRUPT_GRACE_S", 0.5)
    kube = SlowDelete()
    hurry = Abort()
    threading.Thread(target=lambda: kube.entered.wait(30) and hurry.set(), daemon=True).start()
    outcome: list[KubernetesError | None] = []
    waiter = threading.Thread(
        target=lambda: outcome.append(_lifecycle.delete_on_the_way_out(kube, "ns", "c", hurry=hurry)),  # type: ignore[arg-type]
        daemon=True,
    )
    waiter.start()
    # Without hurry the wait would last the whole API timeout (40 s); with it, the 0.5 s grace.
    waiter.join(20)
    kube.release.set()
    assert not waiter.is_alive(), "hurry did not end the wait"
    assert len(outcome) == 1 and isinstance(outcome[0], KubernetesError)


def test_transient_failures_are_retried_and_a_refusal_is_not() -> None:
    class Flaky:
        def __init__(self, failures: list[int | None]) -> None:
            self.failures = failures
            self.calls = 0

        def delete_claim(self, namespace: str, name: str, timeout: float | None = None) -> bool:
            self.calls += 1
            if self.failures:
                raise KubernetesError("no", status=self.failures.pop(0))
            return False

    flaky = Flaky([None, 503])
    assert _lifecycle.delete_bounded(flaky, "ns", "c") is False  # type: ignore[arg-type]
    assert flaky.calls == 3
    refused = Flaky([403])
    with pytest.raises(KubernetesError):
        _lifecycle.delete_bounded(refused, "ns", "c")  # type: ignore[arg-type]
    assert refused.calls == 1
