"""Sandbank's Python client: gVisor sandboxes from warm pools, through the Sandbank router.

    from sandbank import Sandbox

    with Sandbox.create("python-runtime") as sb:
        print(sb.commands.run(["python3", "-c", "print(6 * 7)"]).stdout)
        sb.files.write("data/input.txt", b"hello")
        with sb.commands.spawn("cat") as proc:
            proc.send_stdin("streamed\\n")
            proc.close_stdin()
            for chunk in proc:
                print(chunk.stream, chunk.text)

``AsyncSandbox`` is the same on asyncio; ``agentic_sandbox.SandboxClient`` is the drop-in for
code written against the agent-sandbox client.
"""

from . import errors
from ._attach import ProcessInfo, ProcessOutput
from ._kube import kubernetes_token
from ._lifecycle import Connection
from ._ops import PreviewLink
from ._protocol import CommandResult, FileInfo
from .aio import AsyncSandbox
from .background import AsyncBackgroundProcess, AsyncProcessAttachment, BackgroundProcess, ProcessAttachment
from .errors import (
    ClaimFailed,
    CommandFailed,
    CommandTimeout,
    PortForwardError,
    RouterError,
    SandbankError,
    SandboxNotReady,
    SandboxTimeout,
    Unauthenticated,
)
from .process import AsyncProcess, Output, Process
from .sandbox import Sandbox

__version__ = "0.1.0"

__all__ = [
    "AsyncBackgroundProcess",
    "AsyncProcess",
    "AsyncProcessAttachment",
    "AsyncSandbox",
    "BackgroundProcess",
    "ClaimFailed",
    "CommandFailed",
    "CommandResult",
    "CommandTimeout",
    "Connection",
    "FileInfo",
    "Output",
    "PortForwardError",
    "PreviewLink",
    "Process",
    "ProcessAttachment",
    "ProcessInfo",
    "ProcessOutput",
    "RouterError",
    "SandbankError",
    "Sandbox",
    "SandboxNotReady",
    "SandboxTimeout",
    "Unauthenticated",
    "errors",
    "kubernetes_token",
]
