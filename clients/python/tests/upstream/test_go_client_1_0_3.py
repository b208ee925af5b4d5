"""Upstream agent-sandbox's Go client (``sigs.k8s.io/agent-sandbox/clients/go/sandbox`` v1.0.3,
pinned in e2e/upstream-go/go.mod), unchanged, through its basic flow against the kwok stack: the
program e2e/upstream-go, built by e2e/cluster/build-upstream-go.sh (needs Go), prints a JSON
report of the steps it completed.

Direct URL mode (``Options.APIURL``): kwok has no kubelet for the client's own SPDY port-forward,
so it is given the URL where such a port-forward lands, the compatibility router's loopback
listener (conftest.py). No token is sent, as upstream's client sends none. ``-server-port`` is the
stack's agent port (8888, the client's default, in a real pod)."""

from __future__ import annotations

import json
import os
import subprocess

from tests.stack import REPO

from .conftest import WARM_POOL, Upstream

STEPS = [
    "NewClient",
    "CreateSandbox",
    "Run",
    "Write",
    "Read",
    "List",
    "Exists",
    "ExistsMissing",
    "GetSandbox",
    "ListAllSandboxes",
    "DeleteSandbox",
    "ListAfterDelete",
]


def build() -> str:
    done = subprocess.run(
        ["bash", str(REPO / "e2e/cluster/build-upstream-go.sh")], capture_output=True, text=True, timeout=1200
    )
    assert done.returncode == 0, f"build-upstream-go.sh: {done.stderr}"
    return done.stdout.strip()


def test_the_go_clients_basic_flow(upstream: Upstream) -> None:
    binary = build()
    stack = upstream.stack
    args = ["-pool", WARM_POOL, "-namespace", upstream.namespace, "-api-url", f"http://{upstream.forward_target}"]
    args += ["-server-port", str(stack.agent_legacy_port), "-timeout", "5m"]
    env = {**os.environ, "KUBECONFIG": str(stack.kubeconfig)}
    env.pop("SANDBANK_ROUTER_TOKEN", None)
    done = subprocess.run([binary, *args], capture_output=True, text=True, env=env, timeout=600)
    report = json.loads(done.stdout)
    assert done.returncode == 0, f"step {report.get('failedStep')} failed: {report.get('error')}\n{done.stderr}"
    assert report["steps"] == STEPS
    # A warm pool member, claimed: the Sandbox is named like the claim, the Pod like the pool.
    assert report["sandbox"] == report["claim"]
    assert report["pod"].startswith(f"{WARM_POOL}-")
    assert (report["stdout"], report["exitCode"]) == ("hello-from-upstream-go\n", 0)
    assert report["fileContent"] == "written by upstream's Go client"
    assert report["exists"] and report["missingReportedAbsent"]
    assert report["claim"] not in (report.get("claimsAfterDelete") or [])
