"""What upstream's own Python SDK (``k8s-agent-sandbox``, pinned in requirements.txt) needs from the
kwok stack (tests/stack.py) to run unchanged, as a user of upstream v1.0 runs it:

* the router Service the SDK's default tunnel looks for: ``sandbox-router-svc`` (port 8080) in
  ``agent-sandbox-system``. Its ``kubectl get`` preflight is answered by the real API server;
* a compatibility router whose loopback listener takes the token-less requests that arrive
  through ``kubectl port-forward``: kwok has no kubelet to forward, so the kubectl stand-in
  (tests/kubectl_relay.py) carries the tunnel's bytes to that listener, where a real
  port-forward into the router pod would land;
* v1beta1 objects as upstream users write them: a template that lets claims set ``env`` and
  volume claim templates, a warm pool (``replicas: 2``) and a cold one (``replicas: 0``).

With ``SANDBANK_E2E_KUBECONFIG`` set (the e2e suite, e2e/test/cluster/10-upstream-clients) the same
tests run on `make up`'s cluster instead: its compatibility router, the real kubectl forwarding
(the stand-in only records what it was asked), gVisor pods; the template is copied from the
cluster's example one with claims' env and volumes allowed.

These tests run with the interpreter of scripts/upstream-venv.sh, which has upstream's SDK and
not this repository's package; this file and tests/stack.py use only the standard library and
the Kubernetes client the SDK brings.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes.config import kube_config  # type: ignore[import-untyped]

from tests import kubectl_relay
from tests import stack as stack_mod
from tests.pki import make_pki
from tests.stack import Stack, free_ports, http_ok, kubectl_bin, wait_until

ROUTER_NAMESPACE = "agent-sandbox-system"
ROUTER_SERVICE = "sandbox-router-svc"
ROUTER_SERVICE_PORT = 8080
TEMPLATE = "py-upstream"
WARM_POOL = "py-upstream"
WARM_REPLICAS = 2
COLD_POOL = "py-cold"
TEMPLATES = "sandboxtemplates.v1beta1.extensions.agents.x-k8s.io"
POOLS = "sandboxwarmpools.v1beta1.extensions.agents.x-k8s.io"


#: The real cluster's kubeconfig (the e2e suite, e2e/test/cluster, on `make up`'s cluster) in place of
#: the kwok stack; the namespace from SANDBANK_E2E_NAMESPACE (default ``default``, where the compatibility
#: router serves port-forwards), the template copied from SANDBANK_E2E_TEMPLATE (``python-runtime``).
E2E_KUBECONFIG_ENV = "SANDBANK_E2E_KUBECONFIG"


@dataclass
class Upstream:
    kubeconfig: Path
    namespace: str
    #: The agent's legacy REST port for the SDK's ``server_port``; None: the SDK's default (8888, a real pod's).
    server_port: int | None
    #: host:port of the compatibility router's loopback (port-forward) listener, where the kubectl
    #: stand-in carries the tunnel; None on a real cluster, whose kubectl forwards itself.
    forward_target: str | None
    #: The kwok stack; None on a real cluster.
    stack: Stack | None
    #: The compatibility router's Prometheus text (every replica's, concatenated).
    metrics: Callable[[], str]

    def kubectl(self, *args: str, input: str | None = None) -> str:
        r = subprocess.run(
            [str(kubectl_bin()), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        out = self.kubectl("get", kind, name, "-n", self.namespace, "-o", "json", "--ignore-not-found")
        return json.loads(out) if out.strip() else None


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    kubeconfig = os.environ.get(E2E_KUBECONFIG_ENV)
    if kubeconfig:
        yield from _on_cluster(Path(kubeconfig))
        return
    s = stack_mod.start()
    try:
        with s.as_user():
            s.kubectl("apply", "-f", "-", input=_router_namespace_and_service())
            port, metrics = _start_compat_router(s)
            s.apply(_template_and_pools(_kwok_template_spec()))
            up = Upstream(
                s.kubeconfig, s.namespace, s.agent_legacy_port, f"127.0.0.1:{port}", s, lambda: _http_text(metrics)
            )
            _wait_warm(up)
            yield up
    finally:
        stack_mod.stop(s)


def _on_cluster(kubeconfig: Path) -> Iterator[Upstream]:
    """`make up`'s cluster: its compatibility router (Service, Deployment) in agent-sandbox-system,
    a template like its example one that allows claims' env and volumes, and the two pools."""
    if not kubeconfig.exists():
        pytest.fail(f"{E2E_KUBECONFIG_ENV}={kubeconfig} does not exist (run through e2e/test/cluster)")
    namespace = os.environ.get("SANDBANK_E2E_NAMESPACE", "default")
    up = Upstream(kubeconfig, namespace, None, None, None, lambda: _cluster_metrics(up))
    example = up.kubectl(
        "get", TEMPLATES, os.environ.get("SANDBANK_E2E_TEMPLATE", "python-runtime"), "-n", namespace, "-o", "json"
    )
    spec = _small_cpu_request(json.loads(example)["spec"])
    up.kubectl("apply", "-n", namespace, "-f", "-", input=_template_and_pools(spec))
    try:
        _wait_warm(up)
        yield up
    finally:
        for kind, name in ((POOLS, WARM_POOL), (POOLS, COLD_POOL), (TEMPLATES, TEMPLATE)):
            up.kubectl("delete", kind, name, "-n", namespace, "--ignore-not-found", "--wait=false")


#: What each container of the copied template requests. The local node has 2 CPUs and `make up`
#: already requests about two thirds of them (its router, controller, webhook and warm pool); with
#: the example's 250m, this module's warm pool of 2 took the rest and every cold claim here waited
#: Pending (Insufficient cpu) until its timeout. The limits stay, so the sandboxes can still burst.
CLUSTER_CPU_REQUEST = "25m"


def _small_cpu_request(spec: dict[str, Any]) -> dict[str, Any]:
    pod = json.loads(json.dumps(spec["podTemplate"]))
    for container in pod["spec"]["containers"]:
        container.setdefault("resources", {}).setdefault("requests", {})["cpu"] = CLUSTER_CPU_REQUEST
    return {**spec, "podTemplate": pod}


def _wait_warm(up: Upstream) -> None:
    wait_until(f"warm pool {WARM_POOL}", lambda: _ready_replicas(up, WARM_POOL) >= WARM_REPLICAS, timeout=180)


def _http_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return str(r.read().decode())


def _cluster_metrics(up: Upstream) -> str:
    """Every compatibility router replica's metrics, through the API server's pod proxy (the SDK's
    port-forward picks one replica)."""
    pods = up.kubectl("get", "pods", "-n", ROUTER_NAMESPACE, "-l", "app=sandbox-router", "-o", "name").split()
    if not pods:
        raise RuntimeError(f"no compatibility router pod in {ROUTER_NAMESPACE}")
    return "\n".join(
        up.kubectl(
            "get", "--raw", f"/api/v1/namespaces/{ROUTER_NAMESPACE}/pods/{p.split('/', 1)[1]}:9090/proxy/metrics"
        )
        for p in pods
    )


@pytest.fixture
def sdk_user(upstream: Upstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process as an upstream SDK user: ``kubectl`` on PATH is the stand-in (port-forwards go
    to the compatibility router's loopback listener, or to the real kubectl on a real cluster;
    anything else to the real kubectl), KUBECONFIG is the stack's or the cluster's, no router token
    anywhere. Returns the stand-in's log of what it was asked to forward."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl_relay.install(bin_dir)
    log = tmp_path / "forwarded.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("KUBECONFIG", str(upstream.kubeconfig))
    # The Kubernetes client reads KUBECONFIG once, when it is imported (a user sets it before
    # starting Python); the SDK was imported before the stack existed, so its default is set too.
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(upstream.kubeconfig))
    if upstream.forward_target is None:
        monkeypatch.delenv(kubectl_relay.TARGET_ENV, raising=False)
    else:
        monkeypatch.setenv(kubectl_relay.TARGET_ENV, upstream.forward_target)
    monkeypatch.setenv(kubectl_relay.LOG_ENV, str(log))
    monkeypatch.setenv(kubectl_relay.REAL_KUBECTL_ENV, str(kubectl_bin()))
    for name in ("SANDBANK_ROUTER_TOKEN", "KUBECTL"):
        monkeypatch.delenv(name, raising=False)
    return log


def _ready_replicas(up: Upstream, pool: str) -> int:
    status = (up.get(POOLS, pool) or {}).get("status")
    return int(status.get("readyReplicas") or 0) if isinstance(status, dict) else 0


#: The stand-in for the router pod's IP: a loopback address other than the port-forward listener's
#: (127.0.0.1, ::1), which the router refuses for its network listener in tunnel mode, as it must.
#: Loopback keeps the test off this machine's networks.
POD_ADDRESS = "127.0.0.2"


def _start_compat_router(stack: Stack) -> tuple[int, int]:
    """A router as the compatibility overlay runs it: token-less port-forward requests for the
    stack's namespace on its plain-HTTP loopback listener; its network listener on the "pod IP"
    keeps TLS and token auth, and nothing here connects to it (ROUTER_HOST, 127.0.0.1, is left
    to the metrics port). Returns the port both listen on and the metrics port."""
    address = POD_ADDRESS
    pki = make_pki(stack.dir / "compat-router-tls", f"IP:{address}")
    http, grpc, metrics = free_ports(3)
    env = stack_mod._router_env(stack, http, grpc, metrics)
    env |= {
        "ROUTER_BIND_ADDRESSES": address,
        "ROUTER_PORTFORWARD_NAMESPACES": stack.namespace,
        "ROUTER_TLS_CERT_FILE": str(pki.cert_file),
        "ROUTER_TLS_KEY_FILE": str(pki.key_file),
    }
    stack_mod._spawn(stack, "compat-router", "router/src/main.ts", env)
    proc = stack.procs["compat-router"]
    wait_until("compat router", lambda: http_ok(f"http://127.0.0.1:{http}/readyz"), timeout=120, proc=proc)
    return http, metrics


def _router_namespace_and_service() -> str:
    """What the SDK's preflight (``kubectl get svc/sandbox-router-svc -n agent-sandbox-system``)
    and its port-forward name. kwok runs no router pod behind it: the stand-in forwards instead."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ROUTER_NAMESPACE}}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": ROUTER_SERVICE, "namespace": ROUTER_NAMESPACE},
        "spec": {
            "selector": {"app": "sandbox-router"},
            "ports": [{"name": "http", "port": ROUTER_SERVICE_PORT, "targetPort": ROUTER_SERVICE_PORT}],
        },
    }
    return json.dumps(namespace) + "\n---\n" + json.dumps(service)


def _kwok_template_spec() -> dict[str, Any]:
    # The stack's pod shape (hostNetwork on kwok's node, where the one real agent listens; no
    # container ports, which would be host ports), written as an upstream v1beta1 user writes it.
    return {
        "podTemplate": {
            "metadata": {"labels": {"sandbank.dev/agent-protocol": "grpc"}},
            "spec": {
                "hostNetwork": True,
                "automountServiceAccountToken": False,
                "containers": [{"name": "runtime", "image": "sandbank/runtime:test"}],
            },
        },
    }


def _template_and_pools(spec: dict[str, Any]) -> str:
    """The template (``spec`` with claims' env and volume claim templates allowed), a warm pool and a
    ``replicas: 0`` one of it."""
    template = {
        "apiVersion": "extensions.agents.x-k8s.io/v1beta1",
        "kind": "SandboxTemplate",
        "metadata": {"name": TEMPLATE},
        "spec": {**spec, "envVarsInjectionPolicy": "Allowed", "volumeClaimTemplatesPolicy": "Allowed"},
    }
    warm = {
        "apiVersion": "extensions.agents.x-k8s.io/v1beta1",
        "kind": "SandboxWarmPool",
        "metadata": {"name": WARM_POOL},
        "spec": {"replicas": WARM_REPLICAS, "sandboxTemplateRef": {"name": TEMPLATE}},
    }
    cold = {
        "apiVersion": "extensions.agents.x-k8s.io/v1beta1",
        "kind": "SandboxWarmPool",
        "metadata": {"name": COLD_POOL},
        "spec": {"replicas": 0, "sandboxTemplateRef": {"name": TEMPLATE}},
    }
    return "\n---\n".join(json.dumps(o) for o in (template, warm, cold))
