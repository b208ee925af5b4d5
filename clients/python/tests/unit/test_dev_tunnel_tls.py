"""Dev mode through a router that serves only TLS (#16). The client learns it from the cluster:
the router's certificate Secret ``sandbox-router-tls`` in the router's namespace. When the Secret
is there, https through the loopback tunnel, the certificate verified for 127.0.0.1 against the
Secret's ``ca.crt``; when it is not (a development router serving plain HTTP), http as before.

Everything here is real but the cluster: a loopback stand-in for the API server
(tests/fake_kube_api.py) answers the Service and Secret reads (200, 403 or 404 as each test
sets), the real ``PortForward`` runs a stand-in for ``kubectl port-forward``
(tests/kubectl_relay.py) whose far end is a loopback server, TLS or plain, that records the
``Authorization`` each request brought."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from websockets.sync.server import ServerConnection
from websockets.sync.server import serve as ws_serve

from sandbank._http import SyncHttp
from sandbank._kube import Kube, SecretLookup
from sandbank._lifecycle import Provisioned
from sandbank._route import Route, RouteOptions, prepare_route
from sandbank._tunnel_tls import ROUTER_TLS_SECRET, tunnel_tls
from sandbank.errors import ConfigurationError, RouterUnavailable
from sandbank.sandbox import Sandbox
from tests.fake_kube_api import CLAIM_NS, ROUTER_NS, TOKEN, FakeApi, Relay, forward_to
from tests.pki import Pki, make_pki
from tests.unit.test_credentials import Server

#: What every router certificate names (e2e/cluster/lib/router-tls.sh, components/cert-manager).
ROUTER_SANS = "DNS:sandbox-router-svc,DNS:localhost,IP:127.0.0.1,IP:::1"


@pytest.fixture(scope="module")
def router_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("router-ca"), ROUTER_SANS)


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("other-ca"), ROUTER_SANS)


@pytest.fixture
def server() -> Iterator[Server]:
    """A plain-HTTP server (a development router)."""
    s = Server()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def tls_router(router_pki: Pki, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """A TLS-only server behind the tunnel, with the certificate a router gets."""
    s = Server(router_pki.server_context())
    forward_to(monkeypatch, s.port)
    try:
        yield s
    finally:
        s.close()


def tls_secret(api: FakeApi, pki: Pki, *, with_ca: bool = True) -> None:
    data = {"tls.crt": pki.cert_file.read_bytes(), "tls.key": pki.key_file.read_bytes()}
    if with_ca:
        data["ca.crt"] = pki.ca_file.read_bytes()
    api.secret(ROUTER_TLS_SECRET, data)


_OPEN: list[Route] = []


@pytest.fixture(autouse=True)
def _close_tunnels() -> Iterator[None]:
    """Every tunnel a test opened is stopped, also when an assertion failed before its close."""
    yield
    while _OPEN:
        _OPEN.pop().close()


def dev_route(kube: Kube, **options: Any) -> Route:
    route = prepare_route(kube, RouteOptions(port_forward_ready_timeout=30, **options), CLAIM_NS)()
    _OPEN.append(route)
    return route


def probe(route: Route) -> None:
    http = SyncHttp(route)
    try:
        http.request("GET", "/probe", idempotent=True)
    finally:
        http.close()
        route.close()


@pytest.mark.usefixtures("relay")
class TestTheTunnelSpeaksWhatTheRouterServes:
    def test_a_tls_secret_means_https_verified_for_127_0_0_1_by_its_ca(
        self, kube: Kube, api: FakeApi, tls_router: Server, router_pki: Pki, relay: Relay
    ) -> None:
        """Before: ``http://127.0.0.1:<port>`` into a TLS-only router, which never answers."""
        tls_secret(api, router_pki)
        route = dev_route(kube)
        assert route.url().startswith("https://127.0.0.1:")
        probe(route)
        assert tls_router.seen == [f"Bearer {TOKEN}"]
        assert relay.forwarded() == [{"namespace": ROUTER_NS, "service": "sandbox-router-svc", "remote_port": "8080"}]
        assert f"/api/v1/namespaces/{ROUTER_NS}/secrets/{ROUTER_TLS_SECRET}" in api.seen

    def test_no_tls_secret_means_plain_http_through_the_loopback_tunnel(
        self, kube: Kube, api: FakeApi, server: Server, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A development router told to serve plain HTTP: as before #16."""
        forward_to(monkeypatch, server.port)
        route = dev_route(kube)
        assert route.url().startswith("http://127.0.0.1:")
        probe(route)
        assert server.seen == [f"Bearer {TOKEN}"]

    def test_the_secret_is_read_where_the_router_is(
        self, kube: Kube, api: FakeApi, tls_router: Server, router_pki: Pki, other_pki: Pki, relay: Relay
    ) -> None:
        """A namespace router in the claim's namespace: its own Secret, not sandbank-system's."""
        api.service(CLAIM_NS)
        tls_secret(api, other_pki)  # sandbank-system's, signed by another CA
        data = {"ca.crt": router_pki.ca_file.read_bytes()}
        api.secret(ROUTER_TLS_SECRET, data, namespace=CLAIM_NS)
        api.secret("sandbox-router-auth", {"token": b"namespace-router-token"}, namespace=CLAIM_NS)
        probe(dev_route(kube))
        assert tls_router.seen == ["Bearer namespace-router-token"]
        assert [f["namespace"] for f in relay.forwarded()] == [CLAIM_NS]

    def test_the_exec_websocket_goes_over_wss_with_the_same_ca(
        self, kube: Kube, api: FakeApi, router_pki: Pki, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        tls_secret(api, router_pki)
        seen: list[str | None] = []

        def handler(ws: ServerConnection) -> None:
            seen.append(ws.request.headers.get("Authorization") if ws.request else None)
            json.loads(ws.recv(timeout=30))
            ws.send(json.dumps({"type": "started", "pid": 7}))
            ws.send(json.dumps({"type": "exit", "exitCode": 0}))
            ws.close()

        # No handshake deadline on the stand-in: on a loaded machine its default 10 s ended
        # handshakes the client was still in (seen as EOF); the client's own timeouts are under test.
        with ws_serve(handler, "127.0.0.1", 0, ssl=router_pki.server_context(), open_timeout=None) as server:
            threading.Thread(target=server.serve_forever, daemon=True).start()
            forward_to(monkeypatch, server.socket.getsockname()[1])
            route = dev_route(kube)
            sandbox = Sandbox(Provisioned(cast(Kube, None), "claim", CLAIM_NS, route, owned=False))
            try:
                with sandbox.commands.spawn(["true"]) as proc:
                    assert proc.wait(timeout=30).exit_code == 0
            finally:
                sandbox.close()
                route.close()
                server.shutdown()
        assert seen == [f"Bearer {TOKEN}"]


@pytest.mark.usefixtures("relay")
class TestVerificationIsNeverOff:
    def test_a_certificate_another_ca_signed_gets_nothing(
        self, kube: Kube, api: FakeApi, tls_router: Server, other_pki: Pki
    ) -> None:
        tls_secret(api, other_pki)
        with pytest.raises(RouterUnavailable, match="certificate is not trusted .*CERTIFICATE_VERIFY_FAILED"):
            probe(dev_route(kube))
        assert tls_router.seen == []

    def test_the_certificate_must_name_127_0_0_1(
        self, kube: Kube, api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Signed by the Secret's CA but for the Service's DNS name only: the tunnel's address is
        what the certificate is checked against."""
        pki = make_pki(tmp_path / "dns-only", "DNS:sandbox-router-svc.sandbank-system.svc")
        tls_secret(api, pki)
        s = Server(pki.server_context())
        forward_to(monkeypatch, s.port)
        try:
            with pytest.raises(RouterUnavailable, match="not trusted .*IP address mismatch"):
                probe(dev_route(kube))
            assert s.seen == []
        finally:
            s.close()

    def test_an_unreadable_secret_without_a_configured_ca_fails_verification_and_says_why(
        self, kube: Kube, api: FakeApi, tls_router: Server
    ) -> None:
        """403 on the Secret: the router is assumed to serve TLS (what every install does);
        certifi's CAs do not know it, and the error says what to set."""
        api.forbidden.add(ROUTER_TLS_SECRET)
        with pytest.raises(RouterUnavailable) as e:
            probe(dev_route(kube, token="t"))
        message = str(e.value)
        assert "certificate is not trusted" in message and "SANDBANK_CA_FILE" in message
        assert f"Secret {ROUTER_NS}/{ROUTER_TLS_SECRET} could not be read" in message
        assert tls_router.seen == []


@pytest.mark.usefixtures("relay")
class TestFallbacks:
    def test_an_unreadable_secret_falls_back_to_the_configured_ca(
        self, kube: Kube, api: FakeApi, tls_router: Server, router_pki: Pki, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        api.forbidden.add(ROUTER_TLS_SECRET)
        probe(dev_route(kube, token="arg", ca_file=str(router_pki.ca_file)))
        monkeypatch.setenv("SANDBANK_CA_FILE", str(router_pki.ca_file))
        probe(dev_route(kube, token="env"))
        assert tls_router.seen == ["Bearer arg", "Bearer env"]

    def test_a_secret_without_ca_crt_still_means_tls(
        self, kube: Kube, api: FakeApi, tls_router: Server, router_pki: Pki, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``kubectl create secret tls`` stores no ca.crt: TLS all the same, verified by the configured CA."""
        tls_secret(api, router_pki, with_ca=False)
        monkeypatch.setenv("SANDBANK_CA_FILE", str(router_pki.ca_file))
        route = dev_route(kube)
        assert route.url().startswith("https://")
        probe(route)
        assert tls_router.seen == [f"Bearer {TOKEN}"]

    def test_the_ca_file_argument_wins_over_the_secret(
        self, kube: Kube, api: FakeApi, tls_router: Server, router_pki: Pki, other_pki: Pki
    ) -> None:
        tls_secret(api, other_pki)
        probe(dev_route(kube, ca_file=str(router_pki.ca_file)))
        assert tls_router.seen == [f"Bearer {TOKEN}"]

    def test_a_broken_ca_crt_is_named_before_anything_starts(self, kube: Kube, api: FakeApi, relay: Relay) -> None:
        api.secret(ROUTER_TLS_SECRET, {"ca.crt": b"-----BEGIN CERTIFICATE-----\nnot base64\n"})
        with pytest.raises(ConfigurationError, match=f"Secret {ROUTER_NS}/{ROUTER_TLS_SECRET}: ca.crt is not"):
            prepare_route(kube, RouteOptions(), CLAIM_NS)
        assert relay.forwarded() == []


@pytest.fixture(scope="module")
def ca_pem(router_pki: Pki) -> bytes:
    return router_pki.ca_file.read_bytes()


class TestTheDecision:
    """:func:`tunnel_tls` alone: what the Secret lookup and the settings make of the tunnel."""

    def test_missing_secret_is_plain_http_whatever_else_is_set(self, ca_pem: bytes, tmp_path: Path) -> None:
        (tmp_path / "ca.pem").write_bytes(ca_pem)
        env = {"SANDBANK_CA_FILE": str(tmp_path / "ca.pem")}
        for ca_file in (None, str(tmp_path / "ca.pem")):
            decided = tunnel_tls(ROUTER_NS, SecretLookup.missing(), ca_file, env)
            assert (decided.scheme, decided.context) == ("http", None)

    def test_found_with_ca_crt_is_https_trusting_exactly_that_ca(self, ca_pem: bytes) -> None:
        decided = tunnel_tls(ROUTER_NS, SecretLookup.found({"ca.crt": ca_pem}), None, {})
        assert decided.scheme == "https" and decided.context is not None
        assert decided.context.verify_mode == ssl.CERT_REQUIRED and decided.context.check_hostname
        assert len(decided.context.get_ca_certs()) == 1
        assert "ca.crt of Secret sandbank-system/sandbox-router-tls" in decided.trust

    @pytest.mark.parametrize("lookup", [SecretLookup.forbidden(), SecretLookup.found({"tls.crt": b"x"})])
    def test_unreadable_or_without_ca_is_https_with_the_usual_cas(self, lookup: SecretLookup, ca_pem: bytes) -> None:
        decided = tunnel_tls(ROUTER_NS, lookup, None, {})
        assert decided.scheme == "https" and decided.context is not None
        assert decided.context.verify_mode == ssl.CERT_REQUIRED and decided.context.check_hostname
        assert len(decided.context.get_ca_certs()) > 1  # certifi's bundle
