from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests import stack as stack_mod
from tests.stack import Stack


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The stack, and this test process as its user: KUBECONFIG and kubectl on PATH (no token in
    the environment: tests pass it, or set it, explicitly)."""
    s = stack_mod.start()
    saved = {k: os.environ.get(k) for k in ("KUBECONFIG", "PATH", "SANDBANK_ROUTER_TOKEN")}
    env = s.env()
    os.environ["KUBECONFIG"], os.environ["PATH"] = env["KUBECONFIG"], env["PATH"]
    os.environ.pop("SANDBANK_ROUTER_TOKEN", None)
    try:
        yield s
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        stack_mod.stop(s)
