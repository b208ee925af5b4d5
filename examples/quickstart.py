#!/usr/bin/env python3
"""Sandbank quickstart with the `agentic_sandbox` client (dev mode: kubectl port-forward).

    pip install ./clients/python
    python3 examples/quickstart.py --namespace default --template python-runtime

Needs KUBECONFIG pointing at a cluster with Sandbank, and the template and pool of
examples/python-runtime in the namespace. Dev mode runs `kubectl port-forward
svc/sandbox-router-svc` in that namespace, or in `sandbank-system` when it has no router of its
own, and presents the router token from `$SANDBANK_ROUTER_TOKEN` or the router's Secret.
"""

import argparse

from agentic_sandbox import SandboxClient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--template", default="python-runtime")
    args = parser.parse_args()

    with SandboxClient(template_name=args.template, namespace=args.namespace) as sandbox:
        result = sandbox.run("python3 -c 'import sys; print(sys.version)'")
        print("python:", result.stdout.strip(), "exit", result.exit_code)

        sandbox.write("hello.py", "print('hello from a gVisor sandbox')\n")
        print(sandbox.run("python3 hello.py").stdout.strip())
        print("node:", sandbox.run("node --version").stdout.strip())
        print("files:", [entry.name for entry in sandbox.list(".")])
        print("exists:", sandbox.exists("hello.py"))
        print("read back:", sandbox.read("hello.py").decode().strip())
    # Leaving the block deletes the claim; the controller removes its Sandbox and Pod.


if __name__ == "__main__":
    main()
