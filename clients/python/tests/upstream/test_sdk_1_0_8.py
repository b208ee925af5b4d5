"""Upstream agent-sandbox's Python SDK, ``k8s-agent-sandbox`` 1.0.8 from PyPI, unchanged, against
Sandbank: its public API used as its README shows, in its default mode (a ``kubectl port-forward``
tunnel to ``sandbox-router-svc:8080`` in ``agent-sandbox-system``, no credential), on v1beta1
objects. Run with the interpreter of scripts/upstream-venv.sh (conftest.py says what the stack
provides).

One setting differs from the SDK's default: ``server_port``. In a real pod the agent's legacy REST
API is on 8888, the SDK's default; the stack's one agent process stands in for every pod on a port
it could bind on a shared machine, so the tests name that port. The router namespace, the Service
and the tunnel are the SDK's defaults (test_the_default_tunnel_goes_to_the_router_service checks
what the stand-in was asked to forward).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from k8s_agent_sandbox import SandboxClient
from k8s_agent_sandbox.exceptions import (
    SandboxClaimFailedError,
    SandboxNotFoundError,
    SandboxWarmPoolNotFoundError,
)
from k8s_agent_sandbox.models import SandboxLocalTunnelConnectionConfig

from tests import kubectl_relay
from tests.stack import wait_until

from .conftest import COLD_POOL, ROUTER_NAMESPACE, ROUTER_SERVICE, ROUTER_SERVICE_PORT, WARM_POOL, Upstream

CLAIMS = "sandboxclaims.v1beta1.extensions.agents.x-k8s.io"
SANDBOXES = "sandboxes.v1beta1.agents.x-k8s.io"
#: Longer than any step takes on a loaded machine, far shorter than a wait the SDK would give up on
#: only by timing out: a fail-fast case that raises its own error, not TimeoutError, failed fast.
READY_TIMEOUT = 120


def tunnel(upstream: Upstream) -> SandboxLocalTunnelConnectionConfig:
    return SandboxLocalTunnelConnectionConfig(server_port=upstream.stack.agent_legacy_port)


def claim_names(upstream: Upstream) -> set[str]:
    out = upstream.stack.kubectl("get", CLAIMS, "-n", upstream.namespace, "-o", "name")
    return {line.split("/", 1)[1] for line in out.split()}


def get(upstream: Upstream, kind: str, name: str) -> dict[str, Any]:
    obj = upstream.stack.get(kind, name)
    assert obj is not None, f"{kind} {name} not found"
    return obj


def wait_claim_gone(upstream: Upstream, name: str) -> None:
    wait_until(f"claim {name} deleted", lambda: name not in claim_names(upstream), timeout=60)


def test_the_default_tunnel_goes_to_the_router_service(upstream: Upstream, sdk_user: Path) -> None:
    assert SandboxLocalTunnelConnectionConfig().router_namespace == ROUTER_NAMESPACE
    with SandboxClient(connection_config=tunnel(upstream)) as client:
        sandbox = client.create_sandbox(WARM_POOL, namespace=upstream.namespace, sandbox_ready_timeout=READY_TIMEOUT)
        result = sandbox.commands.run("echo hello from upstream")
        assert (result.stdout, result.stderr, result.exit_code) == ("hello from upstream\n", "", 0)
    assert kubectl_relay.forwarded(sdk_user) == [
        {"namespace": ROUTER_NAMESPACE, "service": ROUTER_SERVICE, "remote_port": str(ROUTER_SERVICE_PORT)}
    ]


def pod_ip_hints(upstream: Upstream) -> dict[str, float]:
    """The compatibility router's count of X-Sandbox-Pod-IP hints, by how they compared with the
    pod it resolved (the header is never where it dials)."""
    with urllib.request.urlopen(upstream.metrics_url, timeout=10) as r:
        text = r.read().decode()
    counts = {"match": 0.0, "mismatch": 0.0, "invalid": 0.0}
    for line in text.splitlines():
        if line.startswith("sandbank_router_pod_ip_hint_total{"):
            labels, _, value = line.rpartition(" ")
            result = labels.split('result="', 1)[1].split('"', 1)[0]
            counts[result] = float(value)
    return counts


def test_a_warm_sandbox_runs_commands_and_files(upstream: Upstream, sdk_user: Path) -> None:
    hints_before = pod_ip_hints(upstream)
    client = SandboxClient(connection_config=tunnel(upstream))
    try:
        sandbox = client.create_sandbox(WARM_POOL, namespace=upstream.namespace, sandbox_ready_timeout=READY_TIMEOUT)
        claim = get(upstream, CLAIMS, sandbox.claim_name or "")
        assert claim["metadata"]["labels"]["agents.x-k8s.io/created-by"] == "python-client"
        assert claim["spec"]["warmPoolRef"] == {"name": WARM_POOL}
        # What the SDK routes by is the Sandbox the claim's status names, Ready.
        assert claim["status"]["sandbox"]["name"] == sandbox.sandbox_id
        ready = [c for c in claim["status"]["conditions"] if c["type"] == "Ready"]
        assert [c["status"] for c in ready] == ["True"]
        # A warm pool member keeps its name: the SDK finds it through the Sandbox.
        assert sandbox.get_pod_name().startswith(f"{WARM_POOL}-")
        assert sandbox.get_pod_ip()

        result = sandbox.commands.run("echo $((6 * 7))")
        assert (result.stdout, result.exit_code) == ("42\n", 0)
        assert sandbox.commands.run("exit 3").exit_code == 3

        sandbox.files.write("d/x.txt", b"from upstream's SDK\n")
        assert sandbox.files.read("d/x.txt") == b"from upstream's SDK\n"
        assert sandbox.files.exists("d/x.txt")
        assert not sandbox.files.exists("d/never-written.txt")
        top = {e.name: e.type for e in sandbox.files.list(".")}
        assert top.get("d") == "directory"
        inside = sandbox.files.list("d")
        assert [(e.name, e.type, e.size) for e in inside] == [("x.txt", "file", len(b"from upstream's SDK\n"))]

        # Re-attach by claim name, as a second process would.
        other = SandboxClient(connection_config=tunnel(upstream))
        again = other.get_sandbox(sandbox.claim_name or "", namespace=upstream.namespace)
        assert again.sandbox_id == sandbox.sandbox_id
        assert again.files.read("d/x.txt") == b"from upstream's SDK\n"
        # Only the tunnel: delete_all() or leaving a `with` would delete the claim it attached to.
        again.close_connection()

        # The SDK sent the pod's IP with its calls; it matched the pod the router resolved.
        hints = pod_ip_hints(upstream)
        assert hints["match"] > hints_before["match"]
        assert (hints["mismatch"], hints["invalid"]) == (hints_before["mismatch"], hints_before["invalid"])

        assert sandbox.claim_name in client.list_all_sandboxes(namespace=upstream.namespace)
        name = sandbox.claim_name or ""
        client.delete_sandbox(name, namespace=upstream.namespace)
        wait_claim_gone(upstream, name)
        wait_until(
            f"sandbox {sandbox.sandbox_id} deleted with its claim",
            lambda: upstream.stack.get(SANDBOXES, sandbox.sandbox_id) is None,
            timeout=60,
        )
    finally:
        client.delete_all()


def test_the_context_manager_deletes_the_claims_it_named(upstream: Upstream, sdk_user: Path) -> None:
    with SandboxClient(connection_config=tunnel(upstream)) as client:
        first = client.create_sandbox(WARM_POOL, namespace=upstream.namespace, sandbox_ready_timeout=READY_TIMEOUT)
        second = client.create_sandbox(WARM_POOL, namespace=upstream.namespace, sandbox_ready_timeout=READY_TIMEOUT)
        names = {first.claim_name, second.claim_name}
        assert names <= claim_names(upstream)
    for name in names:
        wait_claim_gone(upstream, name or "")


def test_a_replicas_zero_pool_gives_a_cold_sandbox_named_like_the_claim(upstream: Upstream, sdk_user: Path) -> None:
    with SandboxClient(connection_config=tunnel(upstream)) as client:
        sandbox = client.create_sandbox(COLD_POOL, namespace=upstream.namespace, sandbox_ready_timeout=READY_TIMEOUT)
        assert sandbox.sandbox_id == sandbox.claim_name
        assert sandbox.get_pod_name() == sandbox.claim_name
        assert sandbox.commands.run("echo cold").stdout == "cold\n"
        assert (
            get(upstream, SANDBOXES, sandbox.sandbox_id)["metadata"]["labels"]["agents.x-k8s.io/launch-type"] == "cold"
        )


def test_env_pod_metadata_and_shutdown_reach_the_objects(upstream: Upstream, sdk_user: Path) -> None:
    before = datetime.now(timezone.utc)
    with SandboxClient(connection_config=tunnel(upstream)) as client:
        sandbox = client.create_sandbox(
            WARM_POOL,
            namespace=upstream.namespace,
            sandbox_ready_timeout=READY_TIMEOUT,
            labels={"team": "upstream-sdk"},
            env={"GREETING": "hello"},
            pod_labels={"sandbox.users.io/team": "upstream-sdk"},
            pod_annotations={"example.com/note": "from the SDK"},
            shutdown_after_seconds=3600,
        )
        claim = get(upstream, CLAIMS, sandbox.claim_name or "")
        assert claim["metadata"]["labels"]["team"] == "upstream-sdk"
        assert claim["spec"]["env"] == [{"name": "GREETING", "value": "hello"}]
        lifecycle = claim["spec"]["lifecycle"]
        assert lifecycle["shutdownPolicy"] == "Delete"
        shutdown = datetime.strptime(lifecycle["shutdownTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        assert before + timedelta(seconds=3590) <= shutdown <= datetime.now(timezone.utc) + timedelta(seconds=3610)

        pod = get(upstream, "pod", sandbox.get_pod_name())
        assert pod["metadata"]["labels"]["sandbox.users.io/team"] == "upstream-sdk"
        assert pod["metadata"]["annotations"]["example.com/note"] == "from the SDK"
        # The Sandbox's blueprint carries the claim's env, so a re-created Pod has it too.
        containers = get(upstream, SANDBOXES, sandbox.sandbox_id)["spec"]["podTemplate"]["spec"]["containers"]
        assert {"name": "GREETING", "value": "hello"} in (containers[0].get("env") or [])
        assert sandbox.commands.run("echo ok").stdout == "ok\n"


def test_an_explicit_claim_name_is_adopted_not_duplicated(upstream: Upstream, sdk_user: Path) -> None:
    name = f"py-adopt-{secrets.token_hex(3)}"
    client = SandboxClient(connection_config=tunnel(upstream))
    try:
        first = client.create_sandbox(
            WARM_POOL, namespace=upstream.namespace, sandbox_ready_timeout=READY_TIMEOUT, claim_name=name
        )
        with SandboxClient(connection_config=tunnel(upstream)) as other:
            again = other.create_sandbox(
                WARM_POOL,
                namespace=upstream.namespace,
                sandbox_ready_timeout=READY_TIMEOUT,
                claim_name=name,
                adopt_existing=True,
            )
            assert (again.claim_name, again.sandbox_id) == (name, first.sandbox_id)
            assert again.commands.run("echo adopted").stdout == "adopted\n"
        # Explicitly named claims are the caller's: leaving the `with` closed only the tunnel.
        assert name in claim_names(upstream)
        assert first.commands.run("echo still here").stdout == "still here\n"
    finally:
        client.delete_sandbox(name, namespace=upstream.namespace)
    wait_claim_gone(upstream, name)


def test_an_unknown_pool_fails_with_warm_pool_not_found(upstream: Upstream, sdk_user: Path) -> None:
    with SandboxClient(connection_config=tunnel(upstream)) as client, pytest.raises(SandboxWarmPoolNotFoundError):
        client.create_sandbox("no-such-pool", namespace=upstream.namespace, sandbox_ready_timeout=READY_TIMEOUT)
    # The SDK deletes the claim it made for the failed create.
    wait_until("the failed claim rolled back", lambda: _claims_of_pool(upstream, "no-such-pool") == [], timeout=60)


def test_a_failed_pod_fails_the_claim(upstream: Upstream, sdk_user: Path) -> None:
    name = f"py-fail-{secrets.token_hex(3)}"
    client = SandboxClient(connection_config=tunnel(upstream))
    try:
        sandbox = client.create_sandbox(
            COLD_POOL, namespace=upstream.namespace, sandbox_ready_timeout=READY_TIMEOUT, claim_name=name
        )
        pod = sandbox.get_pod_name()
        upstream.stack.kubectl(
            "patch",
            "pod",
            pod,
            "-n",
            upstream.namespace,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": {"phase": "Failed", "reason": "Evicted", "message": "test: node pressure"}}),
        )
        # Once the claim is no longer Ready, attaching again waits for it to be Ready: only a reason
        # the SDK knows as terminal (PodFailed) ends that wait before READY_TIMEOUT.
        wait_until("the claim leaves Ready", lambda: _ready_status(upstream, name) != "True", timeout=60)
        with pytest.raises(SandboxClaimFailedError, match="PodFailed"):
            SandboxClient(connection_config=tunnel(upstream)).create_sandbox(
                COLD_POOL,
                namespace=upstream.namespace,
                sandbox_ready_timeout=READY_TIMEOUT,
                claim_name=name,
                adopt_existing=True,
            )
    finally:
        client.delete_sandbox(name, namespace=upstream.namespace)
    wait_claim_gone(upstream, name)


def test_get_sandbox_of_an_unknown_claim_is_not_found(upstream: Upstream, sdk_user: Path) -> None:
    with pytest.raises(SandboxNotFoundError):
        SandboxClient(connection_config=tunnel(upstream)).get_sandbox(
            "no-such-claim", namespace=upstream.namespace, resolve_timeout=5
        )


def _ready_status(upstream: Upstream, claim: str) -> str | None:
    conditions = (get(upstream, CLAIMS, claim).get("status") or {}).get("conditions") or []
    return next((c["status"] for c in conditions if c["type"] == "Ready"), None)


def _claims_of_pool(upstream: Upstream, pool: str) -> list[str]:
    out = upstream.stack.kubectl("get", CLAIMS, "-n", upstream.namespace, "-o", "json")
    items = json.loads(out)["items"]
    return [c["metadata"]["name"] for c in items if (c["spec"].get("warmPoolRef") or {}).get("name") == pool]


def test_the_sdk_is_upstreams_alone() -> None:
    """The interpreter has upstream's SDK at the pinned version and none of this repository's
    packages, so nothing here can pass through Sandbank's own client code."""
    probe = (
        "import importlib.metadata as m, importlib.util as u; "
        "print(m.version('k8s-agent-sandbox'), u.find_spec('sandbank') is None, u.find_spec('agentic_sandbox') is None)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1.0.8", "True", "True"]
