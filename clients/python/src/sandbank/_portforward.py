"""Dev mode's tunnel: ``kubectl port-forward svc/sandbox-router-svc <free local port>:8080``.

The client starts kubectl, waits until the local port accepts connections, restarts the forward
once if it dies, and stops it on exit. kubectl (not a Python SPDY implementation) because it is
what users already have configured: exec credential plugins, proxies and contexts just work.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections import deque

from .errors import PortForwardError

#: How often the local port is probed while kubectl starts. Small: the forward is usually up
#: within ~100 ms of kubectl connecting, and a probe is one loopback connect.
PROBE_INTERVAL_S = 0.05
#: How long a stopped kubectl may take to exit on SIGTERM before it is killed.
STOP_WAIT_S = 1.0
#: What ``kubectl port-forward svc/<name>`` may do besides reading the Service: list the pods
#: behind it, read the one it picks, and open the stream to it.
PORT_FORWARD_RIGHTS = ("get pods", "list pods", "create pods/portforward")


#: Every right dev mode's tunnel needs in the router's namespace: reading its Service, then what
#: ``kubectl port-forward`` does.
DEV_MODE_RIGHTS = ("get services", *PORT_FORWARD_RIGHTS)


def needs_the_rights(where: str, namespaces: str) -> str:
    """``needs <every right> in <where>: <what to do instead>``: the one wording of dev mode's
    rights, for the refusal before the claim and for kubectl's own 403 alike."""
    return f"needs {', '.join(DEV_MODE_RIGHTS)} in {where}: " + without_the_rights(namespaces)


def without_the_rights(namespaces: str) -> str:
    """What a user refused by RBAC can do: get the rights, or not use a port-forward at all."""
    return (
        f"ask for a RoleBinding that grants them in namespace {namespaces} (docs/deploy/access.md), or connect "
        "without a port-forward: api_url= (direct) or gateway_name= (a Gateway), with a router token "
        "(token= or $SANDBANK_ROUTER_TOKEN; for a router in kubernetes auth mode, token=sandbank.kubernetes_token())"
    )


def free_local_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kubectl_path() -> str:
    """``$KUBECTL`` or ``kubectl`` on PATH; a clear error otherwise."""
    explicit = os.environ.get("KUBECTL")
    if explicit:
        if os.access(explicit, os.X_OK):
            return explicit
        raise PortForwardError(f"KUBECTL={explicit} is not an executable file")
    found = shutil.which("kubectl")
    if found is None:
        raise PortForwardError(
            "dev mode needs kubectl on PATH (it runs `kubectl port-forward svc/sandbox-router-svc`): "
            "install kubectl, or connect without it with api_url= (direct mode) or gateway_name="
        )
    return found


class PortForward:
    """One ``kubectl port-forward`` process to a Service port, with one automatic restart."""

    def __init__(
        self,
        namespace: str,
        service: str = "sandbox-router-svc",
        remote_port: int = 8080,
        *,
        ready_timeout: float = 30.0,
        kubeconfig: str | None = None,
        context: str | None = None,
        max_restarts: int = 1,
        scheme: str = "http",
    ) -> None:
        self.namespace = namespace
        #: What the client speaks through the tunnel: ``https`` to a router that serves TLS.
        self.scheme = scheme
        self.service = service
        self.remote_port = remote_port
        self.ready_timeout = ready_timeout
        self.kubeconfig = kubeconfig
        self.context = context
        self.max_restarts = max_restarts
        self.restarts = 0
        self.local_port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._output: deque[str] = deque(maxlen=20)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.local_port}"

    def _argv(self, port: int) -> list[str]:
        argv = [kubectl_path(), "port-forward", f"svc/{self.service}", f"{port}:{self.remote_port}"]
        argv += ["-n", self.namespace, "--address", "127.0.0.1"]
        if self.kubeconfig:
            argv += ["--kubeconfig", self.kubeconfig]
        if self.context:
            argv += ["--context", self.context]
        return argv

    def _pump(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._output.append(line.decode(errors="replace").rstrip())

    def start(self) -> str:
        """Starts kubectl and returns the local URL once the port accepts connections."""
        with self._lock:
            self._start_locked()
            return self.url

    def _start_locked(self) -> None:
        port = free_local_port()
        self._output.clear()
        try:
            proc = subprocess.Popen(
                self._argv(port), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        except OSError as e:
            raise PortForwardError(f"could not run kubectl: {e}") from e
        self._proc = proc
        try:
            pump = threading.Thread(target=self._pump, args=(proc,), daemon=True, name="sandbank-port-forward")
            pump.start()
            deadline = time.monotonic() + self.ready_timeout
            while True:
                if proc.poll() is not None:
                    # kubectl's last words may still be in the pipe: read them before explaining.
                    pump.join(timeout=STOP_WAIT_S)
                    self._proc = None
                    raise PortForwardError(self._explain(f"kubectl port-forward exited with status {proc.returncode}"))
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=PROBE_INTERVAL_S * 4):
                        self.local_port = port
                        return
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise PortForwardError(
                        self._explain(f"the port-forward did not accept connections within {self.ready_timeout:g} s")
                    )
                time.sleep(PROBE_INTERVAL_S)
        except BaseException:
            # Also on Ctrl-C while waiting: no kubectl is left running.
            self._stop_locked()
            raise

    def _explain(self, what: str) -> str:
        output = " | ".join(line for line in self._output if line)
        said = f"{what} (svc/{self.service} in namespace {self.namespace}). kubectl said: {output or '(nothing)'}. "
        if "forbidden" in output.lower():
            # RBAC refused (a right removed after the client checked, or no access reviews on
            # this cluster): the router may run fine; these credentials may not reach it.
            return f"{said}kubectl port-forward " + needs_the_rights(f"namespace {self.namespace}", self.namespace)
        return f"{said}Check that the router runs: kubectl get pods -n {self.namespace} -l app=sandbox-router"

    def ensure_alive(self) -> str:
        """The URL of a live forward: restarts a dead one (up to ``max_restarts`` times), then fails."""
        with self._lock:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                return self.url
            if proc is None and self.local_port == 0:
                self._start_locked()
                return self.url
            if self.restarts >= self.max_restarts:
                code = proc.returncode if proc is not None else "?"
                raise PortForwardError(
                    self._explain(
                        f"kubectl port-forward died (status {code}) and was already restarted {self.restarts} time(s)"
                    )
                )
            self.restarts += 1
            self._start_locked()
            return self.url

    def alive(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    def stop(self) -> None:
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            # kubectl ends at once on SIGTERM; the wait is short so that leaving a block stays quick.
            proc.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
