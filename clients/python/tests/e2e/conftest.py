"""The e2e tests run against the local one-node cluster with Sandbank installed (`make up`, or the
global setup of e2e/test/cluster, which runs them): a real kubelet, gVisor and `kubectl
port-forward`. They are not collected by default (pyproject's testpaths); without a cluster they
fail rather than skip."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from tests.stack import kubectl_bin


@dataclass(frozen=True)
class Cluster:
    kubeconfig: str
    namespace: str
    template: str
    pool: str

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "SANDBANK_ROUTER_TOKEN"}
        env["KUBECONFIG"] = self.kubeconfig
        env["PATH"] = f"{kubectl_bin().parent}{os.pathsep}{env.get('PATH', '')}"
        return env


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    kubeconfig = os.environ.get("SANDBANK_E2E_KUBECONFIG")
    if not kubeconfig or not os.path.exists(kubeconfig):
        pytest.fail("SANDBANK_E2E_KUBECONFIG must name the local cluster's kubeconfig (run through e2e/test/cluster)")
    c = Cluster(
        kubeconfig,
        os.environ.get("SANDBANK_E2E_NAMESPACE", "default"),
        os.environ.get("SANDBANK_E2E_TEMPLATE", "python-runtime"),
        os.environ.get("SANDBANK_E2E_POOL", "python-runtime"),
    )
    os.environ.update({k: v for k, v in c.env().items() if k in ("KUBECONFIG", "PATH")})
    os.environ.pop("SANDBANK_ROUTER_TOKEN", None)
    return c
