"""Drop-in for the agent-sandbox Python client (``agentic_sandbox``, v1alpha1 era), on Sandbank.

    from agentic_sandbox import SandboxClient

    with SandboxClient(template_name="python-runtime", namespace="default") as sandbox:
        print(sandbox.run("echo hello").stdout)

For streaming, async, typed errors and attaching to existing claims, use ``sandbank``.
"""

from .sandbox_client import ExecutionResult, FileEntry, SandboxClient

__all__ = ["SandboxClient", "ExecutionResult", "FileEntry"]
