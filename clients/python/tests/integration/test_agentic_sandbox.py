"""agentic_sandbox.SandboxClient against the real stack: real claims bound by the real controller,
the real router (token auth) and a real agent."""

from __future__ import annotations

import os
import time

import pytest

from agentic_sandbox import SandboxClient
from sandbank.errors import (
    ClaimFailed,
    DeadlineExceeded,
    PortForwardError,
    TemplateNotFound,
    Unauthenticated,
)
from tests.stack import POOL, TEMPLATE, Stack, wait_until


def client(stack: Stack, **kwargs: object) -> SandboxClient:
    args: dict[str, object] = {
        "api_url": stack.router_url,
        "token": stack.token,
        "server_port": stack.agent_legacy_port,
        **kwargs,
    }
    return SandboxClient(template_name=TEMPLATE, namespace=stack.namespace, **args)  # type: ignore[arg-type]


def claims(stack: Stack) -> set[str]:
    out = stack.kubectl("get", "sandboxclaims", "-n", stack.namespace, "-o", "name")
    return {line.split("/", 1)[1] for line in out.split()}


def test_the_snippet_runs_in_direct_mode_on_a_warm_sandbox(stack: Stack) -> None:
    stack = stack
    with SandboxClient(
        template_name=TEMPLATE,
        namespace=stack.namespace,
        api_url=stack.router_url,
        server_port=stack.agent_legacy_port,
        token=stack.token,
    ) as sandbox:
        result = sandbox.run("echo 'Hello from the sandboxed environment!'")
        assert (result.stdout, result.stderr, result.exit_code) == ("Hello from the sandboxed environment!\n", "", 0)
        assert sandbox.claim_name is not None and sandbox.claim_name.startswith("sandbox-claim-")
        assert sandbox.claim_name in claims(stack)
        # A warm pod keeps its pool-generated name; the Sandbox names it in the pod-name annotation.
        assert sandbox.pod_name is not None and sandbox.pod_name.startswith(f"{POOL}-")
        name = sandbox.claim_name
    assert name not in claims(stack)


def test_files_round_trip_through_the_legacy_api(stack: Stack) -> None:
    payload = bytes(range(256)) * 64
    with client(stack) as sandbox:
        sandbox.write("compat/data.bin", payload)
        sandbox.write("compat/hello.txt", "héllo\n")
        assert sandbox.read("compat/data.bin") == payload
        assert sandbox.read("compat/hello.txt").decode() == "héllo\n"
        assert "compat" in {e.name for e in sandbox.list(".")}
        entries = {e.name: e for e in sandbox.list("compat")}
        assert set(entries) == {"data.bin", "hello.txt"}
        assert (entries["data.bin"].size, entries["data.bin"].type) == (len(payload), "file")
        assert entries["data.bin"].mod_time > time.time() - 600
        assert sandbox.exists("compat/hello.txt") is True
        assert sandbox.exists("compat/nope.txt") is False
        result = sandbox.run("cat compat/hello.txt")
        assert result.stdout == "héllo\n"
        assert sandbox.run("ls /definitely-missing").exit_code != 0


def test_a_command_past_its_timeout_raises_a_timeout(stack: Stack) -> None:
    with client(stack) as sandbox:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded) as err:
            sandbox.run("sleep 30", timeout=1)
        assert isinstance(err.value, TimeoutError)
        assert time.monotonic() - started < 15


def test_a_wrong_token_is_unauthenticated_and_the_claim_is_still_deleted(stack: Stack) -> None:
    c = client(stack, token="not-the-router-token-at-all")
    with pytest.raises(Unauthenticated), c as sandbox:
        sandbox.run("true")
    assert c.claim_name not in claims(stack)


def test_an_exception_in_the_block_deletes_the_claim_and_gc_removes_sandbox_and_pod(stack: Stack) -> None:
    c = client(stack)
    with pytest.raises(RuntimeError, match="boom"), c as sandbox:
        assert sandbox.run("true").exit_code == 0
        pod = sandbox.pod_name
        raise RuntimeError("boom")
    name = c.claim_name
    assert name is not None and name not in claims(stack)
    # The kube-controller-manager's garbage collector follows the owner references (it notices
    # new CRDs on its 30 s resync, hence the generous wait).
    wait_until(
        "Sandbox and Pod collected",
        lambda: stack.get("sandbox", name) is None and stack.get("pod", pod or "") is None,
        timeout=120,
    )


def test_a_missing_template_fails_fast_with_the_reason_and_leaves_no_claim(stack: Stack) -> None:
    before = claims(stack)
    started = time.monotonic()
    with (
        pytest.raises(TemplateNotFound) as err,
        SandboxClient(
            template_name="no-such-template",
            namespace=stack.namespace,
            api_url=stack.router_url,
            sandbox_ready_timeout=60,
        ),
    ):
        pass
    assert isinstance(err.value, ClaimFailed) and err.value.reason == "TemplateNotFound"
    assert time.monotonic() - started < 30
    assert claims(stack) == before


def test_dev_mode_without_kubectl_says_so(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    # Checked before anything is created: no claim is left.
    before = claims(stack)
    with (
        pytest.raises(PortForwardError, match="needs kubectl on PATH"),
        SandboxClient(template_name=TEMPLATE, namespace=stack.namespace, router_namespace=stack.namespace),
    ):
        pass
    assert claims(stack) == before


def test_dev_mode_without_a_router_service_names_the_namespaces(stack: Stack) -> None:
    with (
        pytest.raises(
            PortForwardError, match=f"sandbox-router-svc not found in namespace {stack.namespace} nor sandbank-system"
        ),
        SandboxClient(template_name=TEMPLATE, namespace=stack.namespace),
    ):
        pass


def test_dev_mode_reports_a_forward_that_cannot_start(stack: Stack) -> None:
    # The Service exists but selects no pod: kubectl port-forward fails, and its words reach the user.
    ns = f"{stack.namespace}-svc"
    stack.kubectl("create", "namespace", ns)
    stack.kubectl("create", "service", "clusterip", "sandbox-router-svc", "--tcp=8080:8080", "-n", ns)
    try:
        with (
            pytest.raises(PortForwardError) as err,
            SandboxClient(
                template_name=TEMPLATE, namespace=stack.namespace, router_namespace=ns, port_forward_ready_timeout=20
            ),
        ):
            pass
        message = str(err.value)
        assert "kubectl said:" in message and f"kubectl get pods -n {ns} -l app=sandbox-router" in message
    finally:
        stack.kubectl("delete", "namespace", ns, "--wait=false")


def test_the_router_token_comes_from_the_environment(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBANK_ROUTER_TOKEN", stack.token)
    with SandboxClient(
        template_name=TEMPLATE,
        namespace=stack.namespace,
        api_url=stack.router_url,
        server_port=stack.agent_legacy_port,
    ) as sandbox:
        assert sandbox.run("echo env-token").stdout == "env-token\n"
    assert os.environ["SANDBANK_ROUTER_TOKEN"] == stack.token
