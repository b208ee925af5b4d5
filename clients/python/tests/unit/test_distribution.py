"""`pip install ./clients/python` gives one distribution, `sandbank`, with both packages, typed.
(scripts/venv.sh installs it that way, not editable, so this checks the real install.)"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import agentic_sandbox
import sandbank


def test_one_distribution_carries_both_packages_and_their_type_markers() -> None:
    dist = metadata.distribution("sandbank")
    files = {str(f) for f in dist.files or []}
    for expected in (
        "sandbank/__init__.py",
        "sandbank/py.typed",
        "agentic_sandbox/__init__.py",
        "agentic_sandbox/py.typed",
    ):
        assert expected in files
    requires = " ".join(dist.requires or [])
    for dep in ("kubernetes", "httpx", "websockets"):
        assert dep in requires
    assert dist.version == sandbank.__version__


def test_the_packages_import_from_the_installed_distribution() -> None:
    installed = Path(str(metadata.distribution("sandbank").locate_file("")))
    for module in (sandbank, agentic_sandbox):
        assert Path(str(module.__file__)).is_relative_to(installed)
    assert {"SandboxClient", "ExecutionResult", "FileEntry"} <= set(agentic_sandbox.__all__)
    assert {"Sandbox", "AsyncSandbox", "ClaimFailed", "CommandTimeout"} <= set(sandbank.__all__)
