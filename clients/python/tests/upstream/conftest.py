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

These tests run with the interpreter of scripts/upstream-venv.sh, which has upstream's SDK and
not this repository's package; this file and tests/stack.py use only the standard library.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

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


@dataclass
class Upstream:
    stack: Stack
    #: host:port of the compatibility router's loopback (port-forward) listener.
    forward_target: str
    #: Its Prometheus endpoint (on loopback).
    metrics_url: str

    @property
    def namespace(self) -> str:
        return self.stack.namespace


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    s = stack_mod.start()
    try:
        with s.as_user():
            yield s
    finally:
        stack_mod.stop(s)


@pytest.fixture(scope="session")
def upstream(stack: Stack) -> Upstream:
    stack.kubectl("apply", "-f", "-", input=_router_namespace_and_service())
    port, metrics = _start_compat_router(stack)
    stack.apply(_template_and_pools())
    wait_until("warm pool py-upstream", lambda: _ready_replicas(stack, WARM_POOL) >= WARM_REPLICAS, timeout=120)
    return Upstream(stack, f"127.0.0.1:{port}", f"http://127.0.0.1:{metrics}/metrics")


@pytest.fixture
def sdk_user(upstream: Upstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process as an upstream SDK user: ``kubectl`` on PATH is the stand-in (port-forwards go
    to the compatibility router's loopback listener, anything else to the real kubectl), KUBECONFIG
    is the stack's, no router token anywhere. Returns the stand-in's log of what it forwarded."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl_relay.install(bin_dir)
    log = tmp_path / "forwarded.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("KUBECONFIG", str(upstream.stack.kubeconfig))
    monkeypatch.setenv(kubectl_relay.TARGET_ENV, upstream.forward_target)
    monkeypatch.setenv(kubectl_relay.LOG_ENV, str(log))
    monkeypatch.setenv(kubectl_relay.REAL_KUBECTL_ENV, str(kubectl_bin()))
    for name in ("SANDBANK_ROUTER_TOKEN", "KUBECTL"):
        monkeypatch.delenv(name, raising=False)
    return log


def _ready_replicas(stack: Stack, pool: str) -> int:
    status = (stack.get("sandboxwarmpools.v1beta1.extensions.agents.x-k8s.io", pool) or {}).get("status")
    return int(status.get("readyReplicas") or 0) if isinstance(status, dict) else 0


def _host_address() -> str:
    """This machine's first global IPv4 address: the stand-in for the router pod's IP. The router
    refuses a loopback one there (loopback is the port-forward listener's), as it must."""
    out = subprocess.run(["ip", "-j", "-4", "addr", "show", "scope", "global"], capture_output=True, text=True)
    for link in json.loads(out.stdout or "[]"):
        for addr in link.get("addr_info") or []:
            if addr.get("local"):
                return str(addr["local"])
    raise RuntimeError(f"no global IPv4 address on this machine for the router's network listener: {out.stderr}")


def _start_compat_router(stack: Stack) -> tuple[int, int]:
    """A router as the compatibility overlay runs it: token-less port-forward requests for the
    stack's namespace on its plain-HTTP loopback listener; its network listener on the "pod IP"
    keeps TLS and token auth, and nothing here connects to it (ROUTER_HOST, 127.0.0.1, is left
    to the metrics port). Returns the port both listen on and the metrics port."""
    address = _host_address()
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


def _template_and_pools() -> str:
    # The stack's pod shape (hostNetwork on kwok's node, where the one real agent listens; no
    # container ports, which would be host ports), written as an upstream v1beta1 user writes it.
    template = {
        "apiVersion": "extensions.agents.x-k8s.io/v1beta1",
        "kind": "SandboxTemplate",
        "metadata": {"name": TEMPLATE},
        "spec": {
            "podTemplate": {
                "metadata": {"labels": {"sandbank.dev/agent-protocol": "grpc"}},
                "spec": {
                    "hostNetwork": True,
                    "automountServiceAccountToken": False,
                    "containers": [{"name": "runtime", "image": "sandbank/runtime:test"}],
                },
            },
            "envVarsInjectionPolicy": "Allowed",
            "volumeClaimTemplatesPolicy": "Allowed",
        },
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
