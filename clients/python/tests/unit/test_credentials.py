"""Where the clients' credentials may go (#16): the kubeconfig's bearer token never leaves for a
router or gateway unless the user hands it over. Real requests against a loopback server that
records the ``Authorization`` header it receives; a name that does not look like loopback is
resolved to that server by patching the resolver, so the client's own decision is what is tested."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from websockets.sync.server import ServerConnection
from websockets.sync.server import serve as ws_serve

import sandbank
from sandbank import _route
from sandbank._http import AsyncHttp, SyncHttp, retry_decision
from sandbank._kube import Kube, SecretLookup, load_api_client
from sandbank._lifecycle import Provisioned
from sandbank._route import Mode, Route, RouteOptions, prepare_route
from sandbank._transport import check_plain_http, is_loopback_host, tls_context
from sandbank.errors import ConfigurationError, InsecureTransport, RouterUnavailable, Unauthenticated
from sandbank.sandbox import Sandbox
from tests.pki import Pki, make_pki

#: What the test kubeconfig authenticates with: the credential that must not travel.
KUBE_TOKEN = "kubeconfig-bearer-secret"
#: A router name that is not loopback by its spelling; the patched resolver sends it to 127.0.0.1.
FAR_HOST = "router.sandbank.test"


class Recorder(BaseHTTPRequestHandler):
    """Answers a GET with 200 (``/refused``: 401) and records the Authorization header it came with."""

    protocol_version = "HTTP/1.1"
    seen: list[str | None]

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        self.seen.append(self.headers.get("Authorization"))
        refused = self.path == "/refused"
        body = b'{"error":{"code":"unauthenticated","message":"a bearer token is required"}}' if refused else b"{}"
        self.send_response(401 if refused else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Server:
    """The recorder on 127.0.0.1; over TLS with ``tls`` (a server-side context)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        seen: list[str | None] = []
        handler = type("Handler", (Recorder,), {"seen": seen})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.seen = seen
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A private CA and a server certificate it signed for FAR_HOST and 127.0.0.1."""
    return make_pki(tmp_path_factory.mktemp("pki"), f"DNS:{FAR_HOST},IP:127.0.0.1")


@pytest.fixture
def tls_server(pki: Pki) -> Iterator[Server]:
    s = Server(pki.server_context())
    try:
        yield s
    finally:
        s.close()


def write_kubeconfig(path: Path, user: str) -> Path:
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://kube-api.sandbank.test:6443"}}}}]
users: [{{name: u, user: {user}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
"""
    )
    return path


@pytest.fixture
def kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Kubernetes credentials with a static bearer token, for an API server never contacted here."""
    for name in (
        "SANDBANK_ROUTER_TOKEN",
        "SANDBANK_ALLOW_INSECURE",
        "SANDBANK_CA_FILE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "KUBERNETES_SERVICE_HOST",
    ):
        monkeypatch.delenv(name, raising=False)
    return write_kubeconfig(tmp_path / "kubeconfig", f"{{token: {KUBE_TOKEN}}}")


@pytest.fixture
def kube(kubeconfig: Path) -> Kube:
    return Kube(load_api_client(str(kubeconfig)))


@pytest.fixture
def far_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolves FAR_HOST to 127.0.0.1, as a DNS entry for a remote router would resolve elsewhere."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == FAR_HOST else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def call(kube: Kube, opts: RouteOptions, path: str = "/probe") -> None:
    route = prepare_route(kube, opts, "default")()
    http = SyncHttp(route)
    try:
        http.request("GET", path, idempotent=True)
    finally:
        http.close()


def far(port: int, scheme: str = "http") -> str:
    return f"{scheme}://{FAR_HOST}:{port}"


class TestTheKubeconfigTokenStaysHome:
    """Before #16 every one of these received ``Bearer kubeconfig-bearer-secret``."""

    def test_not_sent_to_a_loopback_api_url(self, kube: Kube, server: Server) -> None:
        call(kube, RouteOptions(api_url=f"http://127.0.0.1:{server.port}"))
        assert server.seen == [None]

    @pytest.mark.usefixtures("far_host")
    def test_not_sent_to_a_remote_api_url(self, kube: Kube, server: Server) -> None:
        call(kube, RouteOptions(api_url=far(server.port)))
        assert server.seen == [None]

    @pytest.mark.usefixtures("far_host")
    def test_not_sent_to_a_gateway(self, kube: Kube, server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(kube, "gateway_address", lambda *a: f"{FAR_HOST}:{server.port}")
        call(kube, RouteOptions(gateway_name="gw", gateway_scheme="http"))
        assert server.seen == [None]

    def test_not_sent_through_the_dev_tunnel(self, kube: Kube, server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
        """Dev mode sends the router's own Secret when readable; when it is not, nothing."""

        class Tunnel:
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                pass

            def start(self) -> str:
                return f"http://127.0.0.1:{server.port}"

            def ensure_alive(self) -> str:
                return self.start()

            def stop(self) -> None:
                pass

        monkeypatch.setattr(_route, "kubectl_path", lambda: "kubectl")
        monkeypatch.setattr(_route, "PortForward", Tunnel)
        monkeypatch.setattr(kube, "find_service", lambda *a: "found")
        monkeypatch.setattr(kube, "missing_rights", lambda *a: [])
        monkeypatch.setattr(kube, "read_secret", lambda *a: SecretLookup.missing())  # a plain-HTTP router
        secrets = iter([None, "router-secret"])
        monkeypatch.setattr(kube, "read_secret_key", lambda *a: next(secrets))
        call(kube, RouteOptions())
        call(kube, RouteOptions())
        assert server.seen == [None, "Bearer router-secret"]

    def test_handed_over_explicitly_it_is_sent(self, kubeconfig: Path, kube: Kube, server: Server) -> None:
        """The documented way for a router in ``kubernetes`` auth mode."""
        token = sandbank.kubernetes_token(str(kubeconfig))
        assert token == KUBE_TOKEN
        call(kube, RouteOptions(api_url=f"http://127.0.0.1:{server.port}", token=token))
        assert server.seen == [f"Bearer {KUBE_TOKEN}"]

    def test_a_router_that_wants_a_token_says_how_to_send_one(self, kube: Kube, server: Server) -> None:
        url = f"http://127.0.0.1:{server.port}"
        with pytest.raises(
            Unauthenticated, match="a bearer token is required .*; no router token was sent: pass token="
        ):
            call(kube, RouteOptions(api_url=url), "/refused")
        with pytest.raises(Unauthenticated) as e:
            call(kube, RouteOptions(api_url=url, token="wrong"), "/refused")
        assert "no router token was sent" not in str(e.value)
        assert server.seen == [None, "Bearer wrong"]

    def test_credentials_without_a_bearer_token_say_what_to_do(self, tmp_path: Path) -> None:
        config = write_kubeconfig(tmp_path / "certs", "{client-certificate-data: eA==, client-key-data: eA==}")
        with pytest.raises(ConfigurationError, match="kubernetes_token: .*kubectl create token"):
            sandbank.kubernetes_token(str(config))


class TestNoTokenInCleartext:
    @pytest.mark.usefixtures("far_host")
    def test_a_token_over_http_to_a_remote_host_is_refused_before_anything_is_sent(
        self, kube: Kube, server: Server
    ) -> None:
        with pytest.raises(InsecureTransport, match="allow_insecure=True.*SANDBANK_ALLOW_INSECURE=1") as e:
            call(kube, RouteOptions(api_url=far(server.port), token="router-token"))
        assert str(e.value).startswith("api_url: refusing to send the router token over plain http://")
        assert isinstance(e.value, ConfigurationError)
        assert server.seen == []

    @pytest.mark.usefixtures("far_host")
    def test_the_environment_token_is_refused_too(
        self, kube: Kube, server: Server, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SANDBANK_ROUTER_TOKEN", "router-token")
        with pytest.raises(InsecureTransport):
            call(kube, RouteOptions(api_url=far(server.port)))
        assert server.seen == []

    @pytest.mark.usefixtures("far_host")
    def test_a_gateway_over_http_with_a_token_is_refused(
        self, kube: Kube, server: Server, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(kube, "gateway_address", lambda *a: f"{FAR_HOST}:{server.port}")
        with pytest.raises(InsecureTransport, match="Gateway default/gw .*gateway_scheme='http'"):
            call(kube, RouteOptions(gateway_name="gw", gateway_scheme="http", token="router-token"))
        assert server.seen == []

    @pytest.mark.usefixtures("far_host")
    def test_the_development_override_lets_it_through(
        self, kube: Kube, server: Server, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        call(kube, RouteOptions(api_url=far(server.port), token="arg", allow_insecure=True))
        monkeypatch.setenv("SANDBANK_ALLOW_INSECURE", "1")
        call(kube, RouteOptions(api_url=far(server.port), token="env"))
        assert server.seen == ["Bearer arg", "Bearer env"]

    def test_a_bad_override_value_names_the_variable(self, kube: Kube, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SANDBANK_ALLOW_INSECURE", "maybe")
        with pytest.raises(ConfigurationError, match="SANDBANK_ALLOW_INSECURE: expected 1 or 0"):
            prepare_route(kube, RouteOptions(api_url="https://router.example"), "default")

    def test_loopback_stays_plain_http(self, kube: Kube, server: Server) -> None:
        for host in ("127.0.0.1", "localhost"):
            call(kube, RouteOptions(api_url=f"http://{host}:{server.port}", token="router-token"))
        assert server.seen == ["Bearer router-token"] * 2

    @pytest.mark.parametrize(
        "host", ["127.0.0.1", "127.9.8.7", "localhost", "LocalHost.", "::1", "[::1]", "::ffff:127.0.0.1"]
    )
    def test_loopback_by_spelling(self, host: str) -> None:
        assert is_loopback_host(host)

    @pytest.mark.parametrize(
        "host",
        [
            "10.0.0.1",
            "0.0.0.0",
            "128.0.0.1",
            "::",
            "::ffff:10.0.0.1",
            FAR_HOST,
            "localhost.example.com",
            "127.0.0.1.nip.io",
            "",
        ],
    )
    def test_not_loopback(self, host: str) -> None:
        assert not is_loopback_host(host)

    @pytest.mark.parametrize("url", ["http://localhost@evil.example", "http://127.0.0.1:80@evil.example/x"])
    def test_the_host_is_what_the_url_connects_to_not_its_user_part(self, url: str) -> None:
        with pytest.raises(InsecureTransport, match="'evil.example'"):
            check_plain_http(url, "router-token", allow_insecure=False, what="api_url")


@pytest.mark.usefixtures("far_host")
class TestTls:
    def test_a_gateway_defaults_to_https_verified_by_the_given_ca(
        self, kube: Kube, tls_server: Server, pki: Pki, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(kube, "gateway_address", lambda *a: f"{FAR_HOST}:{tls_server.port}")
        call(kube, RouteOptions(gateway_name="gw", token="router-token", ca_file=str(pki.ca_file)))
        assert tls_server.seen == ["Bearer router-token"]

    def test_the_ca_comes_from_the_environment(
        self, kube: Kube, tls_server: Server, pki: Pki, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for variable in ("SANDBANK_CA_FILE", "SSL_CERT_FILE"):
            with monkeypatch.context() as m:
                m.setenv(variable, str(pki.ca_file))
                call(kube, RouteOptions(api_url=far(tls_server.port, "https"), token="router-token"))
        assert tls_server.seen == ["Bearer router-token"] * 2

    def test_an_unknown_ca_gets_nothing(self, kube: Kube, tls_server: Server) -> None:
        with pytest.raises(RouterUnavailable, match="certificate is not trusted .*CERTIFICATE_VERIFY_FAILED.*ca_file="):
            call(kube, RouteOptions(api_url=far(tls_server.port, "https"), token="router-token"))
        assert tls_server.seen == []

    def test_a_rejected_certificate_is_not_retried(self) -> None:
        try:
            try:
                raise ssl.SSLCertVerificationError("certificate verify failed")
            except ssl.SSLError as e:
                raise httpx.ConnectError("handshake") from e
        except httpx.ConnectError as e:
            rejected = e
        assert not retry_decision(0, error=rejected, status_error=None, idempotent=True)
        assert retry_decision(0, error=httpx.ConnectError("refused"), status_error=None, idempotent=True)

    def test_an_unreadable_ca_file_names_the_option(self, kube: Kube, tmp_path: Path) -> None:
        with pytest.raises(ConfigurationError, match="ca_file: cannot read the CA bundle"):
            prepare_route(kube, RouteOptions(api_url="https://x", ca_file=str(tmp_path / "none.pem")), "default")
        (tmp_path / "junk.pem").write_text("not a certificate")
        with pytest.raises(ConfigurationError, match="ca_file: .* is not a usable CA bundle"):
            prepare_route(kube, RouteOptions(api_url="https://x", ca_file=str(tmp_path / "junk.pem")), "default")

    def test_the_async_client_verifies_the_same_way(self, kube: Kube, tls_server: Server, pki: Pki) -> None:
        # asyncio resolves names its own way (the patched resolver is not on its path): by address.
        url = f"https://127.0.0.1:{tls_server.port}"
        route = prepare_route(kube, RouteOptions(api_url=url, ca_file=str(pki.ca_file), token="t"), "default")()

        async def go() -> None:
            http = AsyncHttp(route)
            try:
                await http.request("GET", "/probe", idempotent=True)
            finally:
                await http.close()

        asyncio.run(go())
        assert tls_server.seen == ["Bearer t"]

    def test_the_exec_websocket_uses_the_ca_too(self, pki: Pki) -> None:
        seen: list[str | None] = []

        def handler(ws: ServerConnection) -> None:
            seen.append(ws.request.headers.get("Authorization") if ws.request else None)
            json.loads(ws.recv(timeout=30))
            ws.send(json.dumps({"type": "started", "pid": 7}))
            ws.send(json.dumps({"type": "exit", "exitCode": 0}))
            ws.close()

        # No handshake deadline on the stand-in: on a loaded machine its default 10 s ended
        # handshakes the client was still in (seen as EOF); the client's own timeouts are under test.
        with ws_serve(handler, "127.0.0.1", 0, ssl=pki.server_context(), open_timeout=None) as server:
            threading.Thread(target=server.serve_forever, daemon=True).start()
            port = server.socket.getsockname()[1]
            route = Route(Mode.DIRECT, far(port, "https"), "router-token", tls=tls_context(str(pki.ca_file), {}))
            sandbox = Sandbox(Provisioned(cast(Kube, None), "claim", "default", route, owned=False))
            try:
                with sandbox.commands.spawn(["true"]) as proc:
                    assert proc.wait(timeout=30).exit_code == 0
            finally:
                sandbox.close()
                server.shutdown()
        assert seen == ["Bearer router-token"]
