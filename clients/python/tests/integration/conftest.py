from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import stack as stack_mod
from tests.stack import Stack


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    s = stack_mod.start()
    try:
        with s.as_user():
            yield s
    finally:
        stack_mod.stop(s)
