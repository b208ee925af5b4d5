"""``SandboxClient``: the agent-sandbox client's context manager, same arguments and methods.

It speaks the legacy router contract (``X-Sandbox-*`` headers, ``/execute``, ``/upload``,
``/download``, ``/list``, ``/exists``), so it works against Sandbank's router and upstream's.
What differs, on purpose:
- ``run`` is sent again only when the router proves the command never started (upstream retried
  POST /execute on any 5xx, which can run a command twice);
- the router token is sent (``token=``, ``$SANDBANK_ROUTER_TOKEN``, or in dev mode the router's
  token Secret); upstream sent none. Never over plain http:// beyond loopback (``allow_insecure``),
  and never the kubeconfig's own token unless passed (``token=sandbank.kubernetes_token()``);
- a Gateway is reached over https (``ca_file`` or ``$SANDBANK_CA_FILE`` for a private CA);
- dev mode port-forwards ``sandbox-router-svc`` in the claim's namespace as upstream did, or, when
  that namespace has none, in Sandbank's ``sandbank-system``, and speaks https through the tunnel
  when the router serves TLS (its Secret ``sandbox-router-tls`` exists), verified against the
  Secret's ``ca.crt``;
- ``write`` keeps the path you give (upstream kept only its basename);
- errors are ``sandbank.errors`` types (all ``SandbankError``); timeouts are also ``TimeoutError``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from sandbank._http import SyncHttp
from sandbank._kube import POD_NAME_ANNOTATION, TRACE_CONTEXT_ANNOTATION, ClaimSpec
from sandbank._lifecycle import Connection, Provisioned, interrupted, provision, release, release_quietly
from sandbank._protocol import LEGACY_AGENT_PORT, legacy_headers, quote_path, request_timeout
from sandbank._route import DEFAULT_ROUTER_NAMESPACE
from sandbank.errors import ConfigurationError, SandbankError

log = logging.getLogger("agentic_sandbox")


@dataclass
class ExecutionResult:
    """What ``run`` returns."""

    stdout: str
    stderr: str
    exit_code: int


@dataclass
class FileEntry:
    """One entry of ``list``: ``type`` is ``file`` or ``directory``; ``mod_time`` is a Unix time."""

    name: str
    size: int
    type: str
    mod_time: float


def _trace_carrier(enabled: bool, service_name: str) -> dict[str, str]:
    """W3C trace headers of the current OpenTelemetry context, when tracing is on and installed."""
    if not enabled:
        return {}
    try:
        from opentelemetry import propagate  # type: ignore[import-not-found]
    except ImportError:
        log.warning(
            "enable_tracing=True but opentelemetry is not installed; continuing without traces (%s)", service_name
        )
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


class SandboxClient:
    """Claims a sandbox of ``template_name`` on ``with`` entry and deletes the claim on exit
    (also on exceptions and Ctrl-C).

    Modes, as agent-sandbox chooses them: ``api_url`` → direct; ``gateway_name`` → the Gateway's
    address; otherwise dev mode (``kubectl port-forward svc/sandbox-router-svc``)."""

    def __init__(
        self,
        template_name: str,
        namespace: str = "default",
        gateway_name: str | None = None,
        gateway_namespace: str = "default",
        api_url: str | None = None,
        server_port: int = LEGACY_AGENT_PORT,
        sandbox_ready_timeout: float = 180,
        gateway_ready_timeout: float = 180,
        port_forward_ready_timeout: float = 30,
        enable_tracing: bool = False,
        trace_service_name: str = "sandbox-client",
        *,
        token: str | None = None,
        router_namespace: str = DEFAULT_ROUTER_NAMESPACE,
        kubeconfig: str | None = None,
        context: str | None = None,
        ca_file: str | None = None,
        allow_insecure: bool = False,
    ) -> None:
        if not template_name:
            raise ConfigurationError("template_name: name a SandboxTemplate")
        self.template_name = template_name
        self.namespace = namespace
        self.server_port = server_port
        self.sandbox_ready_timeout = sandbox_ready_timeout
        self.enable_tracing = enable_tracing
        self.trace_service_name = trace_service_name
        self._connection = Connection(
            api_url=api_url,
            gateway_name=gateway_name,
            gateway_namespace=gateway_namespace,
            gateway_ready_timeout=gateway_ready_timeout,
            port_forward_ready_timeout=port_forward_ready_timeout,
            router_namespace=router_namespace,
            token=token,
            kubeconfig=kubeconfig,
            context=context,
            ca_file=ca_file,
            allow_insecure=allow_insecure,
        )
        self._p: Provisioned | None = None
        self._http: SyncHttp | None = None
        self.claim_name: str | None = None
        self.sandbox_name: str | None = None
        self._pod_name: str | None = None
        self.base_url: str | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> SandboxClient:
        carrier = _trace_carrier(self.enable_tracing, self.trace_service_name)
        annotations = {TRACE_CONTEXT_ANNOTATION: _json(carrier)} if carrier else None
        # If __enter__ fails, `with` does not call __exit__: whatever was provisioned is released
        # here, also when Ctrl-C lands just as provision() returns (it hands the claim over first).
        try:
            p = provision(
                self._connection,
                self.namespace,
                ClaimSpec(template=self.template_name, annotations=annotations),
                ready_timeout=self.sandbox_ready_timeout,
                on_ready=self._adopt,
            )
            self.claim_name = self.sandbox_name = p.name
            self._pod_name = None
            self.base_url = p.route.url()
            self._http = SyncHttp(p.route, extra_headers=carrier)
        except BaseException as e:
            adopted, self._p, self._http = self._p, None, None
            if adopted is not None:
                release_quietly(adopted, urgent=interrupted(e))
            raise
        return self

    def _adopt(self, p: Provisioned) -> None:
        self._p = p

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        p, http = self._p, self._http
        self._p = self._http = None
        if p is None:
            return
        try:
            if http is not None:
                http.close()
        finally:
            # Leaving on Ctrl-C: the claim is still deleted, with a short deadline.
            release(p, delete=True, urgent=exc is not None and interrupted(exc))

    @property
    def pod_name(self) -> str | None:
        """The sandbox's Pod (a warm pod keeps its pool-generated name): the Sandbox's
        ``agents.x-k8s.io/pod-name`` annotation, else the Sandbox's name. Read on first use."""
        if self._pod_name is None and self._p is not None:
            sandbox = self._p.kube.get_sandbox(self.namespace, self._p.name) or {}
            annotations = (sandbox.get("metadata") or {}).get("annotations") or {}
            self._pod_name = str(annotations.get(POD_NAME_ANNOTATION) or self._p.name)
        return self._pod_name

    def is_ready(self) -> bool:
        return self._p is not None

    # --- operations -----------------------------------------------------------------------------

    def _session(self) -> tuple[SyncHttp, Provisioned]:
        if self._http is None or self._p is None:
            raise SandbankError("the sandbox is not open: use SandboxClient(...) in a `with` block")
        return self._http, self._p

    def _headers(self, timeout: float | None) -> dict[str, str]:
        _, p = self._session()
        # The token travels in the session's own headers; these name the sandbox.
        return legacy_headers(p.name, p.namespace, self.server_port, None, timeout)

    def _request(self, method: str, path: str, timeout: float, *, idempotent: bool, **kwargs: Any) -> httpx.Response:
        """One call of the legacy API on the open session, bounded by ``timeout``."""
        http, _ = self._session()
        return http.request(
            method,
            path,
            idempotent=idempotent,
            timeout=request_timeout(timeout),
            headers=self._headers(timeout),
            **kwargs,
        )

    def run(self, command: str, timeout: float = 60) -> ExecutionResult:
        """Runs ``command`` (split like a shell would, no shell features) and waits for it."""
        r = self._request("POST", "/execute", timeout, idempotent=False, json={"command": command})
        body: dict[str, Any] = r.json()
        return ExecutionResult(str(body.get("stdout", "")), str(body.get("stderr", "")), int(body.get("exit_code", -1)))

    def write(self, path: str, content: bytes | str, timeout: float = 60) -> None:
        """Uploads ``content`` to ``path`` in the sandbox's workspace."""
        data = content.encode() if isinstance(content, str) else bytes(content)
        self._request("POST", "/upload", timeout, idempotent=True, files={"file": (path, data)})

    def read(self, path: str, timeout: float = 60) -> bytes:
        return self._request("GET", f"/download/{quote_path(path)}", timeout, idempotent=True).content

    def list(self, path: str, timeout: float = 60) -> list[FileEntry]:
        entries = self._request("GET", f"/list/{quote_path(path)}", timeout, idempotent=True).json()
        return [FileEntry(str(e["name"]), int(e["size"]), str(e["type"]), float(e["mod_time"])) for e in entries]

    def exists(self, path: str, timeout: float = 60) -> bool:
        body = self._request("GET", f"/exists/{quote_path(path)}", timeout, idempotent=True).json()
        return bool(body.get("exists"))


def _json(carrier: dict[str, str]) -> str:
    return json.dumps(carrier, sort_keys=True)
