"""Everything the clients ask the Kubernetes API, through the official ``kubernetes`` client.

Readiness is watched, never polled: list once (the current state and a resourceVersion), then
watch from there, re-listing after ``410 Gone``, until the object is Ready, fails, or the deadline
passes.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from .errors import (
    ClaimFailed,
    ConfigurationError,
    GatewayNotReady,
    KubernetesError,
    SandboxTimeout,
    TemplateNotFound,
    WarmPoolNotFound,
)

CLAIM_GROUP = "extensions.agents.x-k8s.io"
SANDBOX_GROUP = "agents.x-k8s.io"
VERSION = "v1alpha1"
POD_NAME_ANNOTATION = "agents.x-k8s.io/pod-name"
TRACE_CONTEXT_ANNOTATION = "opentelemetry.io/trace-context"

#: Claim ``Ready`` reasons that never change by themselves (api/src/crds/sandbox-claim.ts).
TERMINAL_CLAIM_REASONS = frozenset(
    {
        "TemplateNotFound",
        "WarmPoolNotFound",
        "InvalidMetadata",
        "EnvVarsInjectionRejected",
        "ClaimExpired",
        "SandboxFailed",
    }
)

Obj = Mapping[str, Any]


def new_claim_name(prefix: str = "sandbox-claim") -> str:
    """``sandbox-claim-<8 hex>``, as the agent-sandbox client names its claims."""
    return f"{prefix}-{secrets.token_hex(4)}"


#: API clients by (kubeconfig, its mtime, context): handles opened one after another share one
#: client and so its connection pool (no new TLS handshake with the API server per sandbox).
_API_CLIENTS: dict[tuple[str, float, str], k8s.ApiClient] = {}
_API_CLIENTS_LOCK = threading.Lock()


def load_api_client(kubeconfig: str | None = None, context: str | None = None) -> k8s.ApiClient:
    """In a pod: its service account (unless a kubeconfig is named); elsewhere the kubeconfig
    (``kubeconfig`` argument, ``$KUBECONFIG``, ``~/.kube/config``)."""
    in_cluster = kubeconfig is None and context is None and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    # $KUBECONFIG is read now, not when the kubernetes package was imported (its default).
    path = "" if in_cluster else (kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config"))
    try:
        mtime = max((os.stat(p).st_mtime for p in path.split(os.pathsep) if p and os.path.exists(p)), default=0.0)
    except OSError:
        mtime = 0.0
    key = (path, mtime, context or "")
    with _API_CLIENTS_LOCK:
        cached = _API_CLIENTS.get(key)
        if cached is not None:
            return cached
        cfg = k8s.Configuration()
        try:
            if in_cluster:
                k8s_config.load_incluster_config(client_configuration=cfg)
            else:
                k8s_config.load_kube_config(config_file=path, context=context, client_configuration=cfg)
        except (ConfigException, OSError) as e:
            raise ConfigurationError(
                f"no usable Kubernetes credentials ({path or 'in-cluster'}): {e}. Set KUBECONFIG or pass kubeconfig="
            ) from e
        client = _API_CLIENTS[key] = k8s.ApiClient(configuration=cfg)
        return client


def bearer_token(api: k8s.ApiClient) -> str | None:
    """The bearer token the kubeconfig authenticates with (static, exec plugin or in-cluster), if any."""
    cfg = api.configuration
    hook: Callable[[k8s.Configuration], None] | None = getattr(cfg, "refresh_api_key_hook", None)
    if hook is not None:
        hook(cfg)
    value = (cfg.api_key or {}).get("authorization") or (cfg.api_key or {}).get("BearerToken")
    if not value:
        return None
    prefix = (cfg.api_key_prefix or {}).get("authorization", "")
    token = str(value)
    if token.lower().startswith("bearer "):
        return token[7:]
    return token if prefix.lower() in ("", "bearer") else None


def _explain(e: ApiException, what: str) -> KubernetesError:
    reason = e.reason or ""
    body = e.body.decode() if isinstance(e.body, bytes) else (e.body or "")
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None  # not a Status object: keep the HTTP reason
    if isinstance(parsed, dict):
        reason = parsed.get("message", reason)
    hint = ""
    if e.status == 404 and "the server could not find the requested resource" in str(reason):
        hint = " (are the Sandbank CRDs installed? kubectl apply -k manifests/base)"
    elif e.status == 403:
        hint = " (the kubeconfig's user lacks the RBAC right)"
    return KubernetesError(f"{what}: {e.status} {reason}{hint}", status=e.status)


@dataclass
class ClaimSpec:
    """What a claim asks for; only ``template`` is required."""

    template: str
    warmpool: str | None = None
    shutdown_after_seconds: float | None = None
    labels: Mapping[str, str] | None = None
    annotations: Mapping[str, str] | None = None
    env: Mapping[str, str] | None = None

    def body(self, name: str) -> dict[str, Any]:
        spec: dict[str, Any] = {"sandboxTemplateRef": {"name": self.template}}
        if self.warmpool is not None:
            spec["warmpool"] = self.warmpool
        if self.shutdown_after_seconds is not None:
            at = time.gmtime(time.time() + self.shutdown_after_seconds)
            spec["lifecycle"] = {"shutdownTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", at), "shutdownPolicy": "Delete"}
        if self.env:
            spec["env"] = [{"name": k, "value": v} for k, v in self.env.items()]
        metadata: dict[str, Any] = {"name": name}
        if self.labels:
            metadata["labels"] = dict(self.labels)
        if self.annotations:
            metadata["annotations"] = dict(self.annotations)
        return {
            "apiVersion": f"{CLAIM_GROUP}/{VERSION}",
            "kind": "SandboxClaim",
            "metadata": metadata,
            "spec": spec,
        }


def ready_condition(obj: Obj) -> Obj | None:
    conditions: list[Obj] = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), None)


def claim_outcome(claim: str, obj: Obj) -> bool:
    """True when Ready; raises ClaimFailed on a terminal reason; False while pending."""
    cond = ready_condition(obj)
    if cond is None:
        return False
    if cond.get("status") == "True":
        return True
    reason = str(cond.get("reason") or "")
    if reason in TERMINAL_CLAIM_REASONS:
        message = str(cond.get("message") or "")
        cls = {"TemplateNotFound": TemplateNotFound, "WarmPoolNotFound": WarmPoolNotFound}.get(reason, ClaimFailed)
        raise cls(claim, reason, message)
    return False


class Kube:
    """The few Kubernetes calls the clients make, with errors that say what failed."""

    def __init__(self, api: k8s.ApiClient) -> None:
        self.api = api
        self.custom = k8s.CustomObjectsApi(api)
        self.core = k8s.CoreV1Api(api)

    # --- claims ---------------------------------------------------------------------------------

    def create_claim(self, namespace: str, name: str, spec: ClaimSpec) -> Obj:
        try:
            obj: Obj = self.custom.create_namespaced_custom_object(
                CLAIM_GROUP, VERSION, namespace, "sandboxclaims", spec.body(name)
            )
            return obj
        except ApiException as e:
            raise _explain(e, f"creating SandboxClaim {namespace}/{name}") from e

    def delete_claim(self, namespace: str, name: str) -> bool:
        """Deletes the claim (its Sandbox and Pod follow by garbage collection). False if it was gone."""
        try:
            self.custom.delete_namespaced_custom_object(
                CLAIM_GROUP, VERSION, namespace, "sandboxclaims", name, propagation_policy="Background"
            )
            return True
        except ApiException as e:
            if e.status == 404:
                return False
            raise _explain(e, f"deleting SandboxClaim {namespace}/{name}") from e

    def pool_template(self, namespace: str, pool: str) -> str:
        """The SandboxTemplate a SandboxWarmPool serves."""
        try:
            obj = self.custom.get_namespaced_custom_object(CLAIM_GROUP, VERSION, namespace, "sandboxwarmpools", pool)
        except ApiException as e:
            if e.status == 404:
                raise WarmPoolNotFound(
                    pool, "WarmPoolNotFound", f"no SandboxWarmPool {pool} in namespace {namespace}"
                ) from e
            raise _explain(e, f"reading SandboxWarmPool {namespace}/{pool}") from e
        return str(((obj.get("spec") or {}).get("sandboxTemplateRef") or {}).get("name") or "")

    def get_sandbox(self, namespace: str, name: str) -> Obj | None:
        try:
            obj: Obj = self.custom.get_namespaced_custom_object(SANDBOX_GROUP, VERSION, namespace, "sandboxes", name)
            return obj
        except ApiException as e:
            if e.status == 404:
                return None
            raise _explain(e, f"reading Sandbox {namespace}/{name}") from e

    def wait_claim_ready(self, namespace: str, name: str, timeout: float, created: Obj | None = None) -> Obj:
        """Watches the claim until its ``Ready`` condition is True (the controller sets it once the
        Sandbox is Ready and its Pod routable); fails fast on a terminal reason or a deletion.

        With ``created`` (the create call's answer) the watch starts at its resourceVersion, which
        saves the initial list; otherwise, and after ``410 Gone``, it lists first."""
        deadline = time.monotonic() + timeout
        last: Obj | None = created
        rv: str | None = None
        if created is not None:
            if claim_outcome(name, created):
                return created
            rv = (created.get("metadata") or {}).get("resourceVersion")
        selector = f"metadata.name={name}"
        while True:
            if rv is None:
                try:
                    listed = self.custom.list_namespaced_custom_object(
                        CLAIM_GROUP, VERSION, namespace, "sandboxclaims", field_selector=selector
                    )
                except ApiException as e:
                    raise _explain(e, f"listing SandboxClaim {namespace}/{name}") from e
                items: list[Obj] = listed.get("items") or []
                if not items:
                    raise ClaimFailed(name, "Deleted", "the SandboxClaim does not exist (deleted while waiting?)")
                last = items[0]
                if claim_outcome(name, last):
                    return last
                rv = (listed.get("metadata") or {}).get("resourceVersion")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                cond = ready_condition(last) if last else None
                raise SandboxTimeout(name, timeout, str(cond.get("reason")) if cond else None)
            w = k8s_watch.Watch()
            try:
                for event in w.stream(
                    self.custom.list_namespaced_custom_object,
                    CLAIM_GROUP,
                    VERSION,
                    namespace,
                    "sandboxclaims",
                    field_selector=selector,
                    resource_version=rv,
                    # The server ends the watch by the deadline; the loop then raises the timeout.
                    timeout_seconds=max(1, int(remaining + 0.999)),
                    allow_watch_bookmarks=True,
                ):
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        if obj.get("code") == 410:
                            rv = None
                            break
                        raise KubernetesError(f"watching SandboxClaim {namespace}/{name}: {obj.get('message')}")
                    rv = (obj.get("metadata") or {}).get("resourceVersion", rv)
                    if event.get("type") == "BOOKMARK":
                        continue
                    if event.get("type") == "DELETED":
                        raise ClaimFailed(name, "Deleted", "the SandboxClaim was deleted while waiting for it")
                    last = obj
                    if claim_outcome(name, obj):
                        return obj
            except ApiException as e:
                if e.status != 410:
                    raise _explain(e, f"watching SandboxClaim {namespace}/{name}") from e
                rv = None
            finally:
                w.stop()

    # --- routes ---------------------------------------------------------------------------------

    def service_exists(self, namespace: str, name: str) -> bool:
        try:
            self.core.read_namespaced_service(name, namespace)
            return True
        except ApiException as e:
            if e.status in (403, 404):
                return False
            raise _explain(e, f"reading Service {namespace}/{name}") from e

    def read_secret_key(self, namespace: str, name: str, key: str) -> str | None:
        """A Secret's key, or None when it is missing or not readable with these credentials."""
        try:
            secret = self.core.read_namespaced_secret(name, namespace)
        except ApiException as e:
            if e.status in (403, 404):
                return None
            raise _explain(e, f"reading Secret {namespace}/{name}") from e
        value = (secret.data or {}).get(key)
        return base64.b64decode(value).decode().strip() if value else None

    def gateway_address(self, namespace: str, name: str, timeout: float) -> str:
        """Watches the Gateway until ``status.addresses[0].value`` is set."""
        deadline = time.monotonic() + timeout
        group, version, plural = "gateway.networking.k8s.io", "v1", "gateways"
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise GatewayNotReady(f"Gateway {namespace}/{name} has no address after {timeout:g} s")
            w = k8s_watch.Watch()
            try:
                for event in w.stream(
                    self.custom.list_namespaced_custom_object,
                    group,
                    version,
                    namespace,
                    plural,
                    field_selector=f"metadata.name={name}",
                    timeout_seconds=int(min(remaining, 10.0)) or 1,
                ):
                    obj = event.get("object") or {}
                    for address in (obj.get("status") or {}).get("addresses") or []:
                        if address.get("value"):
                            return str(address["value"])
            except ApiException as e:
                if e.status == 404:
                    raise KubernetesError(
                        f"Gateway {namespace}/{name}: the Gateway API is not installed on this cluster", status=404
                    ) from e
                raise _explain(e, f"watching Gateway {namespace}/{name}") from e
            finally:
                w.stop()
