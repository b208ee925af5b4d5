"""Dev mode against a router that serves only TLS (#16), with nothing configured: no token, no
CA, the way the README's quickstart runs. The real stack's API server holds the router's
namespace as an install leaves it (the Service ``sandbox-router-svc``, the token Secret
``sandbox-router-auth`` and the certificate Secret ``sandbox-router-tls`` with its ``ca.crt``);
a second real router serves TLS with that certificate on loopback. Only the port-forward is a
stand-in (tests/kubectl_relay.py: no kubelet here to forward to a pod), carrying the client's
bytes to that router unchanged, as kubectl does."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentic_sandbox import SandboxClient
from sandbank import Connection, Sandbox
from tests import kubectl_relay
from tests.pki import make_pki
from tests.stack import TEMPLATE, Stack, start_tls_router, stop_process

#: The names every router certificate carries (e2e/cluster/lib/router-tls.sh, components/cert-manager).
ROUTER_SANS = "DNS:sandbox-router-svc,DNS:localhost,IP:127.0.0.1,IP:::1"


@dataclass(frozen=True)
class RouterNamespace:
    name: str
    #: The loopback port the tunnel stand-in forwards to.
    port: int


def router_namespace(stack: Stack, name: str, *, tls_dir: Path | None) -> None:
    """What an install puts in a router's namespace; the certificate Secret only with ``tls_dir``."""
    stack.kubectl("create", "namespace", name)
    stack.kubectl("create", "service", "clusterip", "sandbox-router-svc", "--tcp=8080:8080", "-n", name)
    stack.kubectl(
        "create", "secret", "generic", "sandbox-router-auth", f"--from-literal=token={stack.token}", "-n", name
    )
    if tls_dir is not None:
        stack.kubectl(
            "create", "secret", "generic", "sandbox-router-tls", "--type=kubernetes.io/tls", "-n", name,
            f"--from-file=tls.crt={tls_dir / 'srv.pem'}", f"--from-file=tls.key={tls_dir / 'srv.key'}",
            f"--from-file=ca.crt={tls_dir / 'ca.pem'}",
        )  # fmt: skip


@pytest.fixture(scope="module")
def tls_router(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RouterNamespace]:
    pki = make_pki(tmp_path_factory.mktemp("router-tls"), ROUTER_SANS)
    name = f"{stack.namespace}-tls-{secrets.token_hex(2)}"
    port = start_tls_router(stack, "router-tls", pki.cert_file, pki.key_file, pki.ca_file)
    try:
        router_namespace(stack, name, tls_dir=pki.ca_file.parent)
        yield RouterNamespace(name, port)
    finally:
        stop_process(stack, "router-tls")
        stack.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def plain_router(stack: Stack) -> Iterator[RouterNamespace]:
    """A development router without the certificate Secret: the stack's own, plain HTTP on loopback."""
    name = f"{stack.namespace}-plain-{secrets.token_hex(2)}"
    router_namespace(stack, name, tls_dir=None)
    try:
        yield RouterNamespace(name, int(stack.router_url.rsplit(":", 1)[1]))
    finally:
        stack.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def tunnel_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$KUBECTL`` is the stand-in; no CA or router token in the environment."""
    for variable in ("SANDBANK_CA_FILE", "SSL_CERT_FILE", "SSL_CERT_DIR", "SANDBANK_ROUTER_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("KUBECTL", str(kubectl_relay.install(tmp_path)))
    log = tmp_path / "forwarded.jsonl"
    monkeypatch.setenv(kubectl_relay.LOG_ENV, str(log))
    return log


def through(monkeypatch: pytest.MonkeyPatch, router: RouterNamespace) -> None:
    monkeypatch.setenv(kubectl_relay.TARGET_ENV, f"127.0.0.1:{router.port}")


def claims(stack: Stack) -> set[str]:
    return set(stack.kubectl("get", "sandboxclaims", "-n", stack.namespace, "-o", "name").split())


def test_the_quickstart_reaches_a_tls_only_router_with_nothing_configured(
    stack: Stack, tls_router: RouterNamespace, tunnel_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the client spoke http://127.0.0.1:<port> into the tunnel; the router, which serves
    only TLS, never answered (RouterUnavailable: Server disconnected without sending a response)."""
    through(monkeypatch, tls_router)
    before = claims(stack)
    with SandboxClient(
        template_name=TEMPLATE,
        namespace=stack.namespace,
        router_namespace=tls_router.name,
        server_port=stack.agent_legacy_port,
    ) as sandbox:
        result = sandbox.run("echo 'Hello from the sandboxed environment!'")
        assert (result.stdout, result.exit_code) == ("Hello from the sandboxed environment!\n", 0)
        assert sandbox.base_url is not None and sandbox.base_url.startswith("https://127.0.0.1:")
        sandbox.write("tls/hello.txt", "over TLS\n")
        assert sandbox.read("tls/hello.txt") == b"over TLS\n"
    assert claims(stack) == before
    forwarded = kubectl_relay.forwarded(tunnel_log)
    assert forwarded == [{"namespace": tls_router.name, "service": "sandbox-router-svc", "remote_port": "8080"}]


def test_streaming_exec_goes_over_wss_through_the_tunnel(
    stack: Stack, tls_router: RouterNamespace, tunnel_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    through(monkeypatch, tls_router)
    with Sandbox.create(
        TEMPLATE, namespace=stack.namespace, connection=Connection(router_namespace=tls_router.name)
    ) as sb:
        assert sb.mode == "dev"
        with sb.commands.spawn(["sh", "-c", "read line; echo got:$line"]) as proc:
            proc.send_stdin("streamed\n")
            out = b"".join(chunk.data for chunk in proc if chunk.stream == "stdout")
        assert out == b"got:streamed\n"
        assert proc.result is not None and proc.result.exit_code == 0


def test_a_router_without_the_certificate_secret_is_spoken_to_in_plain_http_as_before(
    stack: Stack, plain_router: RouterNamespace, tunnel_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    through(monkeypatch, plain_router)
    with SandboxClient(
        template_name=TEMPLATE,
        namespace=stack.namespace,
        router_namespace=plain_router.name,
        server_port=stack.agent_legacy_port,
    ) as sandbox:
        assert sandbox.base_url is not None and sandbox.base_url.startswith("http://127.0.0.1:")
        assert sandbox.run("echo plain").stdout == "plain\n"
