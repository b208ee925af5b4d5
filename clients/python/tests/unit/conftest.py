"""Fixtures of the dev-mode tests: a stand-in API server (tests/fake_kube_api.py), a ``Kube`` whose
kubeconfig points at it, and the ``kubectl port-forward`` stand-in (tests/kubectl_relay.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from sandbank._kube import Kube, load_api_client
from tests import kubectl_relay
from tests.fake_kube_api import TOKEN, ApiHandler, FakeApi, Relay


@pytest.fixture
def api() -> Iterator[FakeApi]:
    """An install as the client finds it: the router's Service in sandbank-system and its token Secret."""
    state = FakeApi()
    state.service()
    state.secret("sandbox-router-auth", {"token": TOKEN.encode()})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (ApiHandler,), {"api": state}))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.port = httpd.server_address[1]
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def kube(api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Kube:
    for name in (
        "SANDBANK_ROUTER_TOKEN",
        "SANDBANK_ALLOW_INSECURE",
        "SANDBANK_CA_FILE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "KUBERNETES_SERVICE_HOST",
    ):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "kubeconfig"
    config.write_text(
        f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{api.port}"}}}}]
users: [{{name: u, user: {{token: kube-token}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
"""
    )
    return Kube(load_api_client(str(config)))


@pytest.fixture
def relay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Relay:
    """``$KUBECTL`` is the stand-in; ``forward_to(port)`` picks its far end."""
    monkeypatch.setenv("KUBECTL", str(kubectl_relay.install(tmp_path)))
    log = tmp_path / "forwarded.jsonl"
    monkeypatch.setenv(kubectl_relay.LOG_ENV, str(log))
    return Relay(log)
