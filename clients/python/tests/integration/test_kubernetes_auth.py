"""The client against a router in ``kubernetes`` auth mode, the default of ``manifests/base`` and
the GKE overlays since #17: the router's namespace holds no token Secret, callers send a Kubernetes
token of their own, and RBAC (``create sandboxclaims/exec``, from the shipped ``sandbank-user``
role) decides. A real router (TLS only) asks the stack's real API server (TokenReview,
SubjectAccessReview). In each mode (direct, gateway, dev) a user allowed in the claim's namespace
works when the token is handed over, and nothing is sent on its own; a user of another namespace
is refused. The Gateway's address and the port-forward are stand-ins (no Gateway controller, no
kubelet here), as in the other integration tests."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import sandbank
from sandbank import Connection, Sandbox
from sandbank._kube import Kube
from sandbank.errors import PermissionDenied, PortForwardError, Unauthenticated
from tests import kubectl_relay
from tests.pki import make_pki
from tests.stack import REPO, TEMPLATE, Stack, start_tls_router, stop_process

ROUTER_SANS = "DNS:sandbox-router-svc,DNS:localhost,IP:127.0.0.1,IP:::1"


@dataclass(frozen=True)
class KubernetesRouter:
    #: The router's namespace as the base install leaves it: Service and certificate Secret, no token Secret.
    namespace: str
    port: int
    ca_file: Path
    #: A user with ``sandbank-user`` in the claims' namespace: its token, and a kubeconfig holding it.
    alice: str
    alice_kubeconfig: Path
    #: A user with ``sandbank-user`` in another namespace only.
    mallory: str

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


def service_account(stack: Stack, namespace: str, name: str) -> str:
    """A ServiceAccount bound to ``sandbank-user`` in ``namespace``; its token once RBAC applies it."""
    stack.kubectl("create", "serviceaccount", name, "-n", namespace)
    stack.kubectl(
        "create", "rolebinding", name, "--clusterrole=sandbank-user", f"--serviceaccount={namespace}:{name}",
        "-n", namespace,
    )  # fmt: skip
    who = f"--as=system:serviceaccount:{namespace}:{name}"
    deadline = time.monotonic() + 60
    # The API server's RBAC authorizer sees new bindings a moment later.
    can_i = ("auth", "can-i", "create", "sandboxclaims/exec", who, "-n", namespace)
    while stack.kubectl(*can_i, check=False).strip() != "yes":
        assert time.monotonic() < deadline, f"{name} never got create sandboxclaims/exec in {namespace}"
        time.sleep(0.1)
    return stack.kubectl("create", "token", name, "-n", namespace, "--duration=1h").strip()


def kubeconfig_with_token(stack: Stack, token: str, path: Path) -> Path:
    """The stack's kubeconfig (its server and CA) with a user who authenticates by ``token``."""
    config = json.loads(stack.kubectl("config", "view", "--raw", "-o", "json"))
    for entry in config["users"]:
        entry["user"] = {"token": token}
    path.write_text(json.dumps(config))  # JSON is YAML: a kubeconfig may be either
    return path


@pytest.fixture(scope="module")
def router(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubernetesRouter]:
    stack.kubectl("apply", "-f", str(REPO / "manifests/base/user-roles.yaml"))
    pki = make_pki(tmp_path_factory.mktemp("router-k8s-tls"), ROUTER_SANS)
    port = start_tls_router(
        stack, "router-kubernetes", pki.cert_file, pki.key_file, pki.ca_file, auth={"ROUTER_AUTH_MODE": "kubernetes"}
    )
    name = f"{stack.namespace}-k8s-{secrets.token_hex(2)}"
    other = f"{stack.namespace}-other-{secrets.token_hex(2)}"
    try:
        stack.kubectl("create", "namespace", name)
        stack.kubectl("create", "namespace", other)
        stack.kubectl("create", "service", "clusterip", "sandbox-router-svc", "--tcp=8080:8080", "-n", name)
        stack.kubectl(
            "create", "secret", "generic", "sandbox-router-tls", "--type=kubernetes.io/tls", "-n", name,
            f"--from-file=tls.crt={pki.cert_file}", f"--from-file=tls.key={pki.key_file}",
            f"--from-file=ca.crt={pki.ca_file}",
        )  # fmt: skip
        alice = service_account(stack, stack.namespace, f"alice-{secrets.token_hex(2)}")
        mallory = service_account(stack, other, "mallory")
        kubeconfig = kubeconfig_with_token(stack, alice, tmp_path_factory.mktemp("alice") / "kubeconfig")
        yield KubernetesRouter(name, port, pki.ca_file, alice, kubeconfig, mallory)
    finally:
        stop_process(stack, "router-kubernetes")
        for ns in (name, other):
            stack.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def echo(sb: Sandbox) -> str:
    result = sb.commands.run(["echo", "reached"])
    assert result.exit_code == 0
    return result.stdout


def test_direct_mode_with_the_users_own_kubeconfig_token(stack: Stack, router: KubernetesRouter) -> None:
    """Everything as alice: her kubeconfig claims (sandbank-user may), and her token, handed over
    with ``kubernetes_token``, lets her use the claim through the router."""
    token = sandbank.kubernetes_token(str(router.alice_kubeconfig))
    assert token == router.alice
    connection = Connection(kubeconfig=str(router.alice_kubeconfig), ca_file=str(router.ca_file))
    with Sandbox.create(
        TEMPLATE, namespace=stack.namespace, api_url=router.url, token=token, connection=connection
    ) as sb:
        assert echo(sb) == "reached\n"
        sb.files.write("k8s/alice.txt", b"hers")
        assert sb.files.read("k8s/alice.txt") == b"hers"


def test_without_a_token_handed_over_nothing_is_sent_and_the_router_says_how(
    stack: Stack, router: KubernetesRouter
) -> None:
    connection = Connection(kubeconfig=str(router.alice_kubeconfig), ca_file=str(router.ca_file))
    with (
        Sandbox.create(TEMPLATE, namespace=stack.namespace, api_url=router.url, connection=connection) as sb,
        pytest.raises(Unauthenticated, match=r"kubernetes_token\(\)"),
    ):
        sb.commands.run(["echo", "reached"])


def test_a_user_of_another_namespace_is_refused(stack: Stack, router: KubernetesRouter) -> None:
    connection = Connection(ca_file=str(router.ca_file))
    with Sandbox.create(
        TEMPLATE, namespace=stack.namespace, api_url=router.url, token=router.mallory, connection=connection
    ) as sb:
        refused = f"may not create sandboxclaims/exec on .* in namespace {stack.namespace}"
        with pytest.raises(PermissionDenied, match=refused):
            sb.commands.run(["echo", "reached"])
        with pytest.raises(PermissionDenied):
            sb.files.read("k8s/alice.txt")


def test_gateway_mode(stack: Stack, router: KubernetesRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    # The Gateway's address as a Gateway controller would publish it: here the router itself.
    monkeypatch.setattr(Kube, "gateway_address", lambda self, *args: f"127.0.0.1:{router.port}")
    connection = Connection(gateway_namespace=router.namespace, ca_file=str(router.ca_file))
    with Sandbox.create(
        TEMPLATE, namespace=stack.namespace, gateway_name="gw", token=router.alice, connection=connection
    ) as sb:
        assert sb.mode == "gateway"
        assert echo(sb) == "reached\n"


def test_dev_mode(stack: Stack, router: KubernetesRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the port-forward stand-in, over TLS verified by the namespace's ``ca.crt``. Without
    a token Secret there and none handed over, alice's kubeconfig token is not sent; with
    ``$SANDBANK_ROUTER_TOKEN`` it is."""
    for variable in ("SANDBANK_CA_FILE", "SSL_CERT_FILE", "SSL_CERT_DIR", "SANDBANK_ROUTER_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("KUBECTL", str(kubectl_relay.install(tmp_path)))
    monkeypatch.setenv(kubectl_relay.LOG_ENV, str(tmp_path / "forwarded.jsonl"))
    monkeypatch.setenv(kubectl_relay.TARGET_ENV, f"127.0.0.1:{router.port}")
    # The admin credentials read the router namespace's Service and certificate Secret.
    connection = Connection(router_namespace=router.namespace)
    with Sandbox.create(TEMPLATE, namespace=stack.namespace, connection=connection) as sb:
        assert sb.mode == "dev"
        with pytest.raises(Unauthenticated):
            sb.commands.run(["echo", "reached"])
    monkeypatch.setenv("SANDBANK_ROUTER_TOKEN", router.alice)
    with Sandbox.create(TEMPLATE, namespace=stack.namespace, connection=connection) as sb:
        assert echo(sb) == "reached\n"
    assert {f["namespace"] for f in kubectl_relay.forwarded(tmp_path / "forwarded.jsonl")} == {router.namespace}


def test_dev_mode_without_the_rights_in_the_routers_namespace_says_which(
    stack: Stack, router: KubernetesRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alice, a tenant of the claims' namespace only, in dev mode (#17): the real API server's 403
    on the router's Service is reported as a missing right, not as "not found"; once she may read
    it (the built-in ``view`` there), the real access review names ``create pods/portforward``.
    Both before any claim is made, and no tunnel is started."""
    monkeypatch.setenv("KUBECTL", str(kubectl_relay.install(tmp_path)))
    monkeypatch.setenv(kubectl_relay.LOG_ENV, str(tmp_path / "forwarded.jsonl"))
    connection = Connection(kubeconfig=str(router.alice_kubeconfig), router_namespace=router.namespace)
    claims_before = stack.kubectl("get", "sandboxclaims", "-n", stack.namespace, "-o", "name")
    with pytest.raises(PortForwardError) as e:
        Sandbox.create(TEMPLATE, namespace=stack.namespace, token=router.alice, connection=connection)
    message = str(e.value)
    assert "not found" not in message
    assert f'cannot get resource "services" in API group "" in the namespace "{router.namespace}"' in message
    assert "RoleBinding" in message and "api_url=" in message

    # Her user name, system:serviceaccount:<namespace>:<name>: the subject of her token (a JWT).
    payload = router.alice.split(".")[1]
    alice = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]
    stack.kubectl(
        "create", "rolebinding", "alice-view", "--clusterrole=view", f"--user={alice}", "-n", router.namespace
    )
    deadline = time.monotonic() + 60
    while (
        stack.kubectl("auth", "can-i", "get", "services", f"--as={alice}", "-n", router.namespace, check=False).strip()
        != "yes"
    ):
        assert time.monotonic() < deadline, "the RoleBinding never applied"
        time.sleep(0.1)
    with pytest.raises(PortForwardError) as e:
        Sandbox.create(TEMPLATE, namespace=stack.namespace, token=router.alice, connection=connection)
    assert f"may not create pods/portforward in namespace {router.namespace}:" in str(e.value)
    assert kubectl_relay.forwarded(tmp_path / "forwarded.jsonl") == []
    assert stack.kubectl("get", "sandboxclaims", "-n", stack.namespace, "-o", "name") == claims_before
