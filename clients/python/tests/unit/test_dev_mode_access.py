"""Dev mode for a user who may not use the central router's tunnel (#17): without the right to
read the Service ``sandbox-router-svc`` or to port-forward in ``sandbank-system`` (a tenant whose
rights end at their own namespace), the client says which right is missing and what to do
instead, before any claim is made; a Service that is really not there stays "not found".

The API server is the loopback stand-in of tests/fake_kube_api.py (its 403 carries the real server's
wording; its access reviews deny what a test says); ``kubectl`` is the relay stand-in, whose log
shows that no tunnel was started, or a script that fails as kubectl does when RBAC refuses."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from sandbank._kube import Kube
from sandbank._portforward import DEV_MODE_RIGHTS, PORT_FORWARD_RIGHTS, PortForward
from sandbank._route import RouteOptions, prepare_route
from sandbank.errors import PortForwardError
from tests.fake_kube_api import CLAIM_NS, ROUTER_NS, FakeApi, Relay, forward_to

SERVICE = "sandbox-router-svc"
ROUTER_SERVICE_PATH = f"/api/v1/namespaces/{ROUTER_NS}/services/{SERVICE}"
CLAIM_SERVICE_PATH = f"/api/v1/namespaces/{CLAIM_NS}/services/{SERVICE}"


def refusal(kube: Kube) -> str:
    """The error dev mode fails with, before the claim: ``prepare_route`` is what runs first."""
    with pytest.raises(PortForwardError) as e:
        prepare_route(kube, RouteOptions(), CLAIM_NS)
    return str(e.value)


def says_what_to_do_instead(message: str) -> None:
    assert "RoleBinding" in message
    assert "api_url=" in message and "gateway_name=" in message
    assert "token=" in message and "SANDBANK_ROUTER_TOKEN" in message


@pytest.mark.usefixtures("relay")
class TestTheServiceRead:
    def test_a_forbidden_service_names_the_right_not_absence(self, kube: Kube, api: FakeApi, relay: Relay) -> None:
        """Before: "Service sandbox-router-svc not found in namespace default nor sandbank-system"."""
        api.forbidden.add(ROUTER_SERVICE_PATH)
        message = refusal(kube)
        assert "not found" not in message
        assert f"may not get services in namespace {ROUTER_NS}" in message
        # The API server's own words name the user.
        assert f'User "alice" cannot get resource "services" in API group "" in the namespace "{ROUTER_NS}"' in message
        assert "create pods/portforward" in message
        says_what_to_do_instead(message)
        assert relay.forwarded() == []

    def test_forbidden_in_both_namespaces_names_both(self, kube: Kube, api: FakeApi) -> None:
        api.forbidden.add(SERVICE)
        message = refusal(kube)
        assert f"may not get services in namespace {CLAIM_NS} nor {ROUTER_NS}" in message
        assert "not found" not in message

    def test_a_missing_service_is_still_not_found(self, kube: Kube, api: FakeApi, relay: Relay) -> None:
        del api.objects[ROUTER_SERVICE_PATH]
        message = refusal(kube)
        assert message.startswith(f"Service {SERVICE} not found in namespace {CLAIM_NS} nor {ROUTER_NS}: install")
        assert "RoleBinding" not in message and "forbidden" not in message
        assert relay.forwarded() == []

    def test_not_found_here_and_forbidden_there_says_both(self, kube: Kube, api: FakeApi) -> None:
        """A tenant's own namespace has no router (404) and the central one may not be read (403):
        the 403 is the one that matters, the 404 is reported as what it is."""
        api.forbidden.add(ROUTER_SERVICE_PATH)
        message = refusal(kube)
        assert f"; and there is no Service {SERVICE} in namespace {CLAIM_NS}." in message

    def test_forbidden_in_the_claims_namespace_still_falls_back_to_the_router_namespace(
        self, kube: Kube, api: FakeApi
    ) -> None:
        api.forbidden.add(CLAIM_SERVICE_PATH)
        prepare_route(kube, RouteOptions(), CLAIM_NS)  # no tunnel yet: that is the returned callable's
        assert f"get pods {ROUTER_NS}" in api.reviewed


@pytest.mark.usefixtures("relay")
class TestThePortForwardRights:
    def test_without_create_pods_portforward_it_says_so_before_the_claim(
        self, kube: Kube, api: FakeApi, relay: Relay
    ) -> None:
        """Before: the route was prepared, the claim made and waited for, and only then did
        kubectl fail, with the hint "check that the router runs"."""
        api.denied.add(f"create pods/portforward {ROUTER_NS}")
        message = refusal(kube)
        assert f"may not create pods/portforward in namespace {ROUTER_NS}" in message
        says_what_to_do_instead(message)
        assert relay.forwarded() == []

    def test_every_missing_right_is_named(self, kube: Kube, api: FakeApi) -> None:
        api.denied.update(f"{right} {ROUTER_NS}" for right in ("get pods", "list pods", "create pods/portforward"))
        assert f"may not get pods, list pods, create pods/portforward in namespace {ROUTER_NS}" in refusal(kube)

    def test_the_rights_are_asked_where_the_tunnel_goes(self, kube: Kube, api: FakeApi) -> None:
        api.service(CLAIM_NS)  # a router of the claim's namespace
        prepare_route(kube, RouteOptions(), CLAIM_NS)
        assert sorted(api.reviewed) == sorted(
            f"{right} {CLAIM_NS}" for right in ("get pods", "list pods", "create pods/portforward")
        )

    def test_the_reviews_are_in_flight_together(self, kube: Kube, api: FakeApi) -> None:
        """Before: one SelfSubjectAccessReview after the other, three round trips before every
        claim; a server that answers only once all three arrived waited 10 s on the first."""
        api.reviews_meet = threading.Barrier(3)
        api.denied.add(f"list pods {ROUTER_NS}")
        assert kube.missing_rights(ROUTER_NS, PORT_FORWARD_RIGHTS) == ["list pods"]
        assert api.reviews_together == 3
        assert not api.reviews_meet.broken

    def test_the_missing_rights_are_named_in_the_order_asked(self, kube: Kube, api: FakeApi) -> None:
        api.reviews_meet = threading.Barrier(3)
        api.denied.update(f"{right} {ROUTER_NS}" for right in ("create pods/portforward", "get pods"))
        assert kube.missing_rights(ROUTER_NS, PORT_FORWARD_RIGHTS) == ["get pods", "create pods/portforward"]

    def test_an_api_server_without_access_reviews_leaves_the_answer_to_kubectl(
        self, kube: Kube, api: FakeApi, relay: Relay
    ) -> None:
        api.reviews_refused = 404
        assert kube.missing_rights(ROUTER_NS, PORT_FORWARD_RIGHTS) is None
        prepare_route(kube, RouteOptions(), CLAIM_NS)  # no refusal before the claim
        assert relay.forwarded() == []

    def test_all_granted_opens_the_tunnel(
        self, kube: Kube, api: FakeApi, relay: Relay, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        open_route = prepare_route(kube, RouteOptions(), CLAIM_NS)
        assert len(api.reviewed) == 3 and relay.forwarded() == []
        forward_to(monkeypatch, 9)  # nothing is sent through it here
        route = open_route()
        try:
            assert route.url().startswith("http://127.0.0.1:")  # no TLS Secret in this fake install
        finally:
            route.close()
        assert relay.forwarded() == [{"namespace": ROUTER_NS, "service": SERVICE, "remote_port": "8080"}]


def test_both_refusals_name_the_same_rights(
    kube: Kube, api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refusal before the claim and the explanation of kubectl's 403 come from one wording."""
    api.forbidden.add(ROUTER_SERVICE_PATH)
    monkeypatch.setenv("KUBECTL", str(refusing_kubectl(tmp_path)))
    before_the_claim = refusal(kube)
    with pytest.raises(PortForwardError) as e:
        PortForward(ROUTER_NS, ready_timeout=30).start()
    rights = f"needs {', '.join(DEV_MODE_RIGHTS)} in "
    assert rights in before_the_claim and rights in str(e.value)
    assert "get services, get pods, list pods, create pods/portforward" in rights


def refusing_kubectl(tmp_path: Path) -> Path:
    """A ``kubectl`` that fails as kubectl does when RBAC refuses the port-forward."""
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(
        "#!/bin/sh\n"
        'echo \'error: error upgrading connection: pods "sandbox-router-6d5f" is forbidden: User "alice" '
        f'cannot create resource "pods/portforward" in API group "" in the namespace "{ROUTER_NS}"\' >&2\n'
        "exit 1\n"
    )
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IXUSR)
    return kubectl


def test_a_kubectl_refused_by_rbac_is_explained_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A right removed between the check and the tunnel (or an API server that answers no access
    review): kubectl's own 403, with what to do, instead of "check that the router runs"."""
    monkeypatch.setenv("KUBECTL", str(refusing_kubectl(tmp_path)))
    with pytest.raises(PortForwardError) as e:
        PortForward(ROUTER_NS, ready_timeout=30).start()
    message = str(e.value)
    assert 'cannot create resource "pods/portforward"' in message
    assert "Check that the router runs" not in message
    assert f"create pods/portforward in namespace {ROUTER_NS}" in message
    says_what_to_do_instead(message)
