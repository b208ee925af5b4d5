"""Dev mode on a real cluster: the README's quickstart exactly as written, streaming, cleanup after
an exception, and a port-forward that dies (restarted once, then a clear error)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from agentic_sandbox import SandboxClient
from sandbank import PortForwardError, Sandbox
from sandbank.errors import SandbankError

from .conftest import Cluster

README = Path(__file__).resolve().parents[2] / "README.md"


def quickstart_snippet() -> str:
    text = README.read_text()
    section = text[text.index("## Quickstart") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README.md has no python block under ## Quickstart"
    return match.group(1)


def claims(cluster: Cluster) -> set[str]:
    out = subprocess.run(
        ["kubectl", "get", "sandboxclaims", "-n", cluster.namespace, "-o", "name"],
        env=cluster.env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_the_readme_quickstart_exactly_as_written(cluster: Cluster) -> None:
    snippet = quickstart_snippet()
    assert 'SandboxClient(template_name="python-runtime", namespace="default")' in snippet
    before = claims(cluster)
    # Nothing configured but the kubeconfig: the router serves only TLS, and dev mode finds its CA
    # in the Secret sandbox-router-tls.
    env = {k: v for k, v in cluster.env().items() if k not in ("SANDBANK_CA_FILE", "SSL_CERT_FILE", "SSL_CERT_DIR")}
    result = subprocess.run([sys.executable, "-c", snippet], env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    # print() adds its newline to the command's own.
    assert result.stdout == "Hello from the sandboxed environment!\n\n"
    assert claims(cluster) == before


def test_streaming_in_dev_mode_runs_under_gvisor(cluster: Cluster) -> None:
    with Sandbox.create(cluster.template, namespace=cluster.namespace) as sb:
        assert sb.mode == "dev"
        assert sb._p.route.url().startswith("https://127.0.0.1:")
        with sb.commands.spawn(["sh", "-c", "cat /proc/version; read line; echo got:$line; echo done >&2"]) as proc:
            proc.send_stdin("streamed\n")
            out = b"".join(chunk.data for chunk in proc if chunk.stream == "stdout")
        assert b"gVisor" in out or b"gvisor" in out
        assert out.endswith(b"got:streamed\n")
        assert proc.result is not None and proc.result.exit_code == 0


def test_an_exception_deletes_the_claim(cluster: Cluster) -> None:
    before = claims(cluster)
    with (
        pytest.raises(ZeroDivisionError),
        SandboxClient(template_name=cluster.template, namespace=cluster.namespace) as sb,
    ):
        assert sb.run("true").exit_code == 0
        assert claims(cluster) - before
        _ = 1 / 0
    assert claims(cluster) == before


def test_a_dead_port_forward_is_restarted_once_then_reported(cluster: Cluster) -> None:
    with Sandbox.create(cluster.template, namespace=cluster.namespace) as sb:
        tunnel = sb._p.route.tunnel
        assert tunnel is not None and tunnel._proc is not None
        tunnel._proc.kill()
        tunnel._proc.wait()
        assert sb.commands.run("echo again").stdout == "again\n"
        assert tunnel.restarts == 1
        assert tunnel._proc is not None
        tunnel._proc.kill()
        tunnel._proc.wait()
        with pytest.raises(PortForwardError, match="already restarted 1 time") as err:
            sb.commands.run("true")
        assert isinstance(err.value, SandbankError)
        assert "kubectl get pods -n" in str(err.value)
