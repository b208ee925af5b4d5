"""A client program that test_interrupts.py runs and interrupts at one point of a sandbox's life.

    interrupted_client.py <sync|async> <create|watch|run|exit> <namespace> <template> <router url>
                          <router token> <agent legacy port> <marker file name>

sync: ``with agentic_sandbox.SandboxClient(...)``, interrupted by SIGINT (KeyboardInterrupt).
async: ``async with await sandbank.AsyncSandbox.create(...)`` in a task that SIGINT cancels.

It prints the lines the test synchronises on:
    CLAIM <name>   the claim it is about to create
    AT <point>     it is at <point> (create, watch, exit; for run the test watches the marker file)
    CANCELLED      async: CancelledError came out of the cancelled task

The points are held open by hooks on the Kubernetes client's transport, installed here and not
in the product: at "create" the create's answer is held back (the claim exists, the client has
not heard yet) until the process ends; at "exit" the DELETE is held until the test, having sent
the signal, writes a line to stdin: so the signal lands before the delete is sent.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from kubernetes.client import rest

# What a terminal gives a program: Ctrl-C raises KeyboardInterrupt. A process started in the
# background by a non-interactive shell inherits SIGINT ignored, and Python then keeps ignoring
# it; the test must not depend on how the test run itself was started.
signal.signal(signal.SIGINT, signal.default_int_handler)

api, point, namespace, template, router_url, token, agent_port, marker = sys.argv[1:9]


def say(line: str) -> None:
    print(line, flush=True)


original_request = rest.RESTClientObject.request
held_delete = False


def request(self: rest.RESTClientObject, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
    global held_delete
    path = url.split("?", 1)[0]
    if method == "POST" and path.endswith("/sandboxclaims"):
        say(f"CLAIM {kwargs['body']['metadata']['name']}")
        response = original_request(self, method, url, *args, **kwargs)
        if point == "create":
            say("AT create")
            sys.stdin.readline()  # the answer never arrives: until the process ends
        return response
    if method == "GET" and path.endswith("/sandboxclaims") and "watch=true" in url.lower():
        response = original_request(self, method, url, *args, **kwargs)  # the watch is established
        if point == "watch":
            say("AT watch")
        return response
    if method == "DELETE" and point == "exit" and not held_delete:
        held_delete = True
        say("AT exit")
        sys.stdin.readline()  # the test has sent the signal
    return original_request(self, method, url, *args, **kwargs)


rest.RESTClientObject.request = request  # type: ignore[method-assign]

command = f"touch {marker} && sleep 60"

if api == "sync":
    from agentic_sandbox import SandboxClient

    with SandboxClient(
        template_name=template, namespace=namespace, api_url=router_url, token=token, server_port=int(agent_port)
    ) as sandbox:
        if point == "run":
            sandbox.run(f"sh -c '{command}'", timeout=120)
else:
    from sandbank import AsyncSandbox

    async def work() -> None:
        sb = await AsyncSandbox.create(template, namespace=namespace, api_url=router_url, token=token)
        async with sb:
            if point == "run":
                await sb.commands.run(["sh", "-c", command], timeout=120)

    async def main() -> None:
        task = asyncio.ensure_future(work())
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            say("CANCELLED")
            raise SystemExit(130) from None

    asyncio.run(main())
