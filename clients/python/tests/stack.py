"""The real Sandbank stack for the integration tests, started as processes the way a developer
runs them: a control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok;
``e2e/cluster/control-plane-up.sh``, built from Go modules by ``make cluster-build``), the CRDs,
the controller, the router (token auth) and one runtime agent on 127.0.0.1.

Sandbox pods land on kwok's fake node. The test template uses ``hostNetwork: true``, so kwok gives
every pod the node's address, 127.0.0.1, where the real agent listens (on ports the router is
told about): the controller binds real claims to real warm pods, the router resolves them through
its watches and tunnels to a real agent. Only the kubelet is not real here (the local-cluster
suite covers that).

Agent credentials: the controller makes its agent key (Secret ``sandbank-system/sandbank-agent-key``)
and gives every pod its own credential; the router gets the key as a file, as its Deployment
mounts it, and presents each pod's token. The one agent process here stands in for every pod, so
it cannot hold one pod's digest: it runs with the local-development opt-out
(``SANDBANK_AGENT_INSECURE_NO_AUTH``). The router's own tests check the credentials end to end.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = "py-runtime"
POOL = "py-runtime"
POOL_REPLICAS = 2
#: The agent's limit on background processes running at once.
MAX_BACKGROUND_PROCESSES = 6


def _versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (REPO / "e2e/cluster/versions.env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip().strip('"')
    return out


def cache_dir() -> Path:
    base = os.environ.get("SANDBANK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "sandbank"
    )
    return Path(base)


def kubectl_bin() -> Path:
    path = cache_dir() / f"kubernetes-{_versions()['KUBERNETES_VERSION']}" / "bin" / "kubectl"
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run `make cluster-build` first")
    return path


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (the sockets are held together so none repeats)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_until(
    what: str, check: Callable[[], bool], timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not ready after {timeout:g} s")
        time.sleep(0.1)


def http_ok(url: str, tls: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=tls) as r:
            return 200 <= r.status < 300
    except Exception:
        return False


@dataclass
class Stack:
    dir: Path
    kubeconfig: Path
    namespace: str
    router_url: str
    token: str
    agent_workspace: Path
    #: The agent's legacy REST port: agentic_sandbox's server_port (8888 in a real pod).
    agent_legacy_port: int = 0
    agent_grpc_port: int = 0
    #: The agent key as the router's Secret volume holds it (written once the controller made it).
    agent_key_file: Path | None = None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: list[IO[bytes]] = field(default_factory=list)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        r = subprocess.run(
            [str(kubectl_bin()), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
        )
        if check and r.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def apply(self, manifest: str) -> None:
        """Applies YAML in the stack's namespace."""
        self.kubectl("apply", "-n", self.namespace, "-f", "-", input=manifest)

    def get(self, kind: str, name: str) -> dict[str, object] | None:
        out = self.kubectl("get", kind, name, "-n", self.namespace, "-o", "json", "--ignore-not-found")
        return json.loads(out) if out.strip() else None

    def ready_warm_pods(self) -> int:
        pool = self.get("sandboxwarmpools", POOL) or {}
        status = pool.get("status") or {}
        return int(status.get("readyReplicas") or 0) if isinstance(status, dict) else 0

    @contextlib.contextmanager
    def as_user(self) -> Iterator[Stack]:
        """This process as the stack's user: KUBECONFIG and kubectl on PATH, no router token in
        the environment (tests pass it, or set it, explicitly). Restores the environment after."""
        saved = {k: os.environ.get(k) for k in ("KUBECONFIG", "PATH", "SANDBANK_ROUTER_TOKEN")}
        env = self.env()
        os.environ["KUBECONFIG"], os.environ["PATH"] = env["KUBECONFIG"], env["PATH"]
        os.environ.pop("SANDBANK_ROUTER_TOKEN", None)
        try:
            yield self
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def env(self) -> dict[str, str]:
        """Environment for a user's process: the kubeconfig, kubectl on PATH, the router token."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = f"{kubectl_bin().parent}{os.pathsep}{env.get('PATH', '')}"
        env["SANDBANK_ROUTER_TOKEN"] = self.token
        return env


def _spawn(stack: Stack, name: str, script: str, env: dict[str, str]) -> None:
    tsx = REPO / "node_modules" / ".bin" / "tsx"
    log = open(stack.dir / "logs" / f"{name}.log", "wb")  # noqa: SIM115 (closed by stop())
    stack.logs.append(log)
    stack.procs[name] = subprocess.Popen(
        [str(tsx), "--conditions=source", str(REPO / script)],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def start() -> Stack:
    root = Path(tempfile.mkdtemp(prefix="sandbank-py-"))
    logs = root / "logs"
    logs.mkdir()
    cp = root / "control-plane"
    t0 = time.monotonic()
    subprocess.run(
        ["bash", str(REPO / "e2e/cluster/control-plane-up.sh"), str(cp)],
        check=True,
        # The control plane's watchdog stops it if this test process dies without cleaning up.
        env={**os.environ, "SANDBANK_CP_WATCH_PID": str(os.getpid())},
        stdout=subprocess.DEVNULL,
    )
    token = secrets.token_urlsafe(24)
    workspace = root / "workspace"
    workspace.mkdir()
    stack = Stack(root, cp / "kubeconfig", f"py-{secrets.token_hex(3)}", "", token, workspace)
    try:
        stack.kubectl("apply", "--server-side", "-f", str(REPO / "manifests/base/crds"))
        stack.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        agent_grpc, agent_rest, ctl_http, r_http, r_grpc, r_metrics, webhook, webhook_http = free_ports(8)
        _spawn(
            stack,
            "agent",
            "runtime-image/src/main.ts",
            {
                "SANDBANK_AGENT_HOST": "127.0.0.1",
                "SANDBANK_AGENT_GRPC_PORT": str(agent_grpc),
                "SANDBANK_AGENT_REST_PORT": str(agent_rest),
                "SANDBANK_AGENT_WORKSPACE": str(workspace),
                "SANDBANK_AGENT_LOG_LEVEL": "warn",
                "SANDBANK_AGENT_INSECURE_NO_AUTH": "true",
                # Small, so that the limit test reaches it with a few sleeps (default 32).
                "SANDBANK_AGENT_MAX_BACKGROUND_PROCESSES": str(MAX_BACKGROUND_PROCESSES),
            },
        )
        # The controller's namespace, where it keeps the agent key (and the webhook its certificate).
        stack.kubectl("create", "namespace", "sandbank-system")
        # The CRDs store v1beta1 and serve v1alpha1 (what this client speaks) through the
        # conversion webhook; with no cluster network, the API server reaches it by URL on
        # loopback (it points the CRDs there, with its own CA as caBundle).
        _spawn(
            stack,
            "webhook",
            "controller/src/webhook/main.ts",
            {
                "KUBECONFIG": str(stack.kubeconfig),
                "HTTP_PORT": str(webhook_http),
                "HTTP_BIND_ADDRESS": "127.0.0.1",
                "LOG_LEVEL": "warn",
                "WEBHOOK_PORT": str(webhook),
                "WEBHOOK_BIND_ADDRESS": "127.0.0.1",
                "WEBHOOK_URL": f"https://127.0.0.1:{webhook}/convert",
            },
        )
        wait_until("webhook", lambda: http_ok(f"http://127.0.0.1:{webhook_http}/readyz"), proc=stack.procs["webhook"])
        _spawn(
            stack,
            "controller",
            "controller/src/main.ts",
            {
                "KUBECONFIG": str(stack.kubeconfig),
                "LEADER_ELECT": "false",
                "HTTP_PORT": str(ctl_http),
                "HTTP_BIND_ADDRESS": "127.0.0.1",
                "LOG_LEVEL": "warn",
            },
        )
        stack.agent_legacy_port, stack.agent_grpc_port = agent_rest, agent_grpc
        wait_until(
            "agent",
            lambda: socket.create_connection(("127.0.0.1", agent_rest), 1).close() is None,
            proc=stack.procs["agent"],
        )
        wait_until("controller", lambda: http_ok(f"http://127.0.0.1:{ctl_http}/readyz"), proc=stack.procs["controller"])
        # Ready means the key exists: the router starts with it, as its pod waits for the Secret.
        stack.agent_key_file = _write_agent_key(stack)
        _write_preview_key(stack)
        _spawn(stack, "router", "router/src/main.ts", _router_env(stack, r_http, r_grpc, r_metrics))
        stack.router_url = f"http://127.0.0.1:{r_http}"
        wait_until("router", lambda: http_ok(f"{stack.router_url}/readyz"), proc=stack.procs["router"])
        stack.kubectl("create", "namespace", stack.namespace)
        # The sandbox profile refuses the template's hostNetwork unless a cluster admin allows it
        # in the namespace, and fills in runtimeClassName gvisor, which must exist
        # (docs/sandbox-profile.md).
        stack.kubectl("label", "namespace", stack.namespace, "sandbox-profile.sandbank.dev/allow-host-network=true")
        stack.kubectl("apply", "-f", "-", input=_GVISOR_RUNTIME_CLASS)
        stack.apply(_template_and_pool())
        wait_until("warm pool", lambda: stack.ready_warm_pods() >= POOL_REPLICAS, timeout=60)
    except BaseException:
        stop(stack)
        raise
    print(f"\nsandbank stack up in {time.monotonic() - t0:.1f} s ({root})")
    return stack


def _write_agent_key(stack: Stack) -> Path:
    """The controller's agent key, as the bytes the router's Secret volume would hold."""
    encoded = stack.kubectl(
        "get", "secret", "sandbank-agent-key", "-n", "sandbank-system", "-o", "jsonpath={.data.key}"
    )
    path = stack.dir / "agent-key"
    path.write_bytes(base64.b64decode(encoded, validate=True))
    path.chmod(0o600)
    return path


def _write_preview_key(stack: Stack) -> None:
    """The router's preview-link signing key, as its Secret volume would hold it (one file, id ``k1``)."""
    keys = stack.dir / "preview-keys"
    keys.mkdir(mode=0o700)
    (keys / "k1").write_bytes(secrets.token_bytes(32))


def _router_env(stack: Stack, http: int, grpc: int, metrics: int) -> dict[str, str]:
    if stack.agent_key_file is None:
        raise RuntimeError("the agent key is read before a router starts")
    return {
        "KUBECONFIG": str(stack.kubeconfig),
        "ROUTER_AUTH_MODE": "token",
        "ROUTER_AUTH_TOKEN": stack.token,
        # The test tenant's token reaches every namespace the tests create.
        "ROUTER_AUTH_TOKEN_SCOPES": "token=*",
        "ROUTER_HOST": "127.0.0.1",
        "ROUTER_PORT": str(http),
        "ROUTER_GRPC_PORT": str(grpc),
        "ROUTER_METRICS_PORT": str(metrics),
        "ROUTER_AGENT_GRPC_PORT": str(stack.agent_grpc_port),
        "ROUTER_AGENT_LEGACY_PORT": str(stack.agent_legacy_port),
        "ROUTER_AGENT_KEY_FILE": str(stack.agent_key_file),
        "ROUTER_PREVIEW_KEYS_DIR": str(stack.dir / "preview-keys"),
        "ROUTER_LOG_LEVEL": "warn",
    }


def start_tls_router(
    stack: Stack, name: str, cert_file: Path, key_file: Path, ca_file: Path, *, auth: dict[str, str] | None = None
) -> int:
    """A second router beside the stack's, serving only TLS with ``cert_file`` (as a router does
    once its Secret ``sandbox-router-tls`` is mounted); returns its HTTPS port once it is ready.
    ``auth`` replaces the stack's token auth settings (``{"ROUTER_AUTH_MODE": "kubernetes"}``).
    Stopped with the stack, or earlier with :func:`stop_process`."""
    http, grpc, metrics = free_ports(3)
    env = {**_router_env(stack, http, grpc, metrics), "ROUTER_TLS_CERT_FILE": str(cert_file)}
    if auth is not None:
        env = {k: v for k, v in env.items() if not k.startswith("ROUTER_AUTH_")} | auth
    _spawn(stack, name, "router/src/main.ts", {**env, "ROUTER_TLS_KEY_FILE": str(key_file)})
    verify = ssl.create_default_context(cafile=str(ca_file))
    wait_until(name, lambda: http_ok(f"https://127.0.0.1:{http}/readyz", verify), timeout=120, proc=stack.procs[name])
    return http


def stop_process(stack: Stack, name: str) -> None:
    proc = stack.procs.pop(name)
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def stop(stack: Stack) -> None:
    for proc in stack.procs.values():
        if proc.poll() is None:
            proc.terminate()
    for proc in stack.procs.values():
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    for log in stack.logs:
        log.close()
    subprocess.run(
        ["bash", str(REPO / "e2e/cluster/control-plane-down.sh"), str(stack.dir / "control-plane")],
        stdout=subprocess.DEVNULL,
        check=False,
    )
    if os.environ.get("SANDBANK_KEEP_LOGS"):
        print(f"logs kept in {stack.dir / 'logs'}")
    else:
        shutil.rmtree(stack.dir, ignore_errors=True)


# kwok runs no containers: the handler only has to be named.
_GVISOR_RUNTIME_CLASS = json.dumps(
    {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "gvisor"}, "handler": "runsc"}
)


def _template_and_pool() -> str:
    # No container ports: with hostNetwork they would become host ports, and the scheduler would
    # refuse a second pod on the one fake node. So the port route may reach any port (but the
    # agent's) by the annotation; a server a test starts in the "sandbox" listens on the host's
    # loopback, the address every pod here has.
    template = {
        "apiVersion": "extensions.agents.x-k8s.io/v1alpha1",
        "kind": "SandboxTemplate",
        "metadata": {"name": TEMPLATE},
        "spec": {
            "podTemplate": {
                "metadata": {
                    "labels": {"sandbank.dev/agent-protocol": "grpc"},
                    "annotations": {"sandbank.dev/expose-any-port": "true"},
                },
                "spec": {
                    "hostNetwork": True,
                    "automountServiceAccountToken": False,
                    "containers": [{"name": "runtime", "image": "sandbank/runtime:test"}],
                },
            }
        },
    }
    pool = {
        "apiVersion": "extensions.agents.x-k8s.io/v1alpha1",
        "kind": "SandboxWarmPool",
        "metadata": {"name": POOL},
        "spec": {"replicas": POOL_REPLICAS, "sandboxTemplateRef": {"name": TEMPLATE}},
    }
    return json.dumps(template) + "\n---\n" + json.dumps(pool)
