"""Everything the clients ask the Kubernetes API, through the official ``kubernetes`` client.

Readiness is watched, never polled: list once (the current state and a resourceVersion), then
watch from there, re-listing after ``410 Gone``, until the object is Ready, fails, or the deadline
passes.

Every call is bounded: ordinary calls by connect/read timeouts, a watch by its server-side
``timeoutSeconds`` plus a read timeout, and a watch can be stopped from another thread
(:class:`Abort`, used when an asyncio task is cancelled) by shutting its socket down. On the
main thread Ctrl-C interrupts any of them at once (a blocked socket read returns EINTR).
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
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

#: Claim ``Ready`` reasons that never change by themselves (api/src/crds/v1beta1/sandbox-claim.ts).
#: The last six are v1beta1's: the Sandbox's own Ready reasons, forwarded to the claim verbatim,
#: the claim's configuration errors, and a bound claim whose Sandbox was deleted.
TERMINAL_CLAIM_REASONS = frozenset(
    {
        "TemplateNotFound",
        "WarmPoolNotFound",
        "InvalidMetadata",
        "EnvVarsInjectionRejected",
        "ClaimExpired",
        "SandboxFailed",
        "PodFailed",
        "PodSucceeded",
        "SandboxExpired",
        "VolumeClaimTemplatesError",
        "InvalidConfiguration",
        "SandboxMissing",
    }
)

Obj = Mapping[str, Any]

#: Connect and read timeouts of ordinary API calls. The API server answers in milliseconds, and
#: within a few seconds on a loaded machine; these only bound a server that stopped answering.
API_CONNECT_TIMEOUT_S = 10.0
API_READ_TIMEOUT_S = 30.0
#: A watch's read timeout beyond its ``timeoutSeconds`` (after which the server ends it).
WATCH_READ_GRACE_S = 10.0


class Aborted(Exception):
    """A step was stopped through its :class:`Abort` (the asyncio task that ran it was cancelled)."""


class Abort:
    """Stops a step that runs in a worker thread, from another thread: :meth:`set` marks it
    aborted and wakes what it blocks in (a watch's socket is shut down, a wait returns); the step
    raises :class:`Aborted` at its next :meth:`check`.

    It also carries what the step has under way that must be undone if it never finishes:
    :attr:`claim` is set just before a claim is created."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set = False
        self._wakers: list[Callable[[], None]] = []
        #: (kube, namespace, name) of a claim the step is creating or has created.
        self.claim: tuple[Kube, str, str] | None = None
        #: The step finished and its result was handed over before any :meth:`set`.
        self.handed_over = False

    def set(self) -> None:
        with self._lock:
            self._set = True
            wakers = list(self._wakers)
        for wake in wakers:
            wake()

    def hand_over(self) -> bool:
        """Called when the step has finished: True if its result goes to the caller (not aborted);
        False if it was aborted first (whoever ran the step must undo the result)."""
        with self._lock:
            if self._set:
                return False
            self.handed_over = True
            return True

    def is_set(self) -> bool:
        return self._set

    def check(self) -> None:
        if self._set:
            raise Aborted("stopped: the task was cancelled")

    def add_waker(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Calls ``wake`` on :meth:`set` (at once if already set); returns what unregisters it."""
        with self._lock:
            self._wakers.append(wake)
            already = self._set
        if already:
            wake()

        def remove() -> None:
            with self._lock:
                if wake in self._wakers:
                    self._wakers.remove(wake)

        return remove


def _shutdown(response: Any) -> None:
    """Shuts a streamed response's socket down, from any thread: a read blocked on it returns."""
    conn = getattr(response, "connection", None) or getattr(response, "_connection", None)
    sock = getattr(conn, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)


def _lines(response: Any) -> Iterator[bytes]:
    """The newline-separated records of a streamed (chunked) response, as they arrive."""
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=False):
        buffer += chunk
        *records, buffer = buffer.split(b"\n")
        yield from (r for r in records if r.strip())


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


def kubernetes_token(kubeconfig: str | None = None, context: str | None = None) -> str:
    """The bearer token your Kubernetes credentials authenticate with (the kubeconfig's user, an
    exec plugin's current token, or a pod's service account), for a router in ``kubernetes`` auth
    mode: ``token=sandbank.kubernetes_token()``. The clients never send it on their own: whoever
    holds it can act as you on the cluster, so handing it to a router is your explicit choice."""
    token = bearer_token(load_api_client(kubeconfig, context))
    if not token:
        raise ConfigurationError(
            "kubernetes_token: these Kubernetes credentials carry no bearer token (a client certificate?); "
            "create one, e.g. `kubectl create token <service-account>`, and pass it as token="
        )
    return token


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


def _status_message(e: ApiException) -> str:
    """The API server's message (its Status object's), else the HTTP reason."""
    reason = e.reason or ""
    body = e.body.decode() if isinstance(e.body, bytes) else (e.body or "")
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None  # not a Status object: keep the HTTP reason
    if isinstance(parsed, dict):
        return str(parsed.get("message", reason))
    return reason


def _explain(e: ApiException, what: str) -> KubernetesError:
    reason = _status_message(e)
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


def _timeouts(total: float | None = None) -> tuple[float, float]:
    """``_request_timeout`` of an ordinary call: (connect, read), both within ``total`` if given."""
    if total is None:
        return (API_CONNECT_TIMEOUT_S, API_READ_TIMEOUT_S)
    total = max(total, 0.1)
    return (min(API_CONNECT_TIMEOUT_S, total), total)


def _unreachable(e: urllib3.exceptions.HTTPError, what: str) -> KubernetesError:
    return KubernetesError(f"{what}: the API server did not answer ({e})")


@dataclass(frozen=True)
class SecretLookup:
    """A Secret as these credentials see it: ``found`` (its decoded data), ``missing`` (404) or
    ``forbidden`` (403: it may exist; these credentials may not read it)."""

    state: Literal["found", "missing", "forbidden"]
    data: Mapping[str, bytes] = field(default_factory=dict)

    @classmethod
    def found(cls, data: Mapping[str, bytes]) -> SecretLookup:
        return cls("found", dict(data))

    @classmethod
    def missing(cls) -> SecretLookup:
        return cls("missing")

    @classmethod
    def forbidden(cls) -> SecretLookup:
        return cls("forbidden")


@dataclass(frozen=True)
class Forbidden:
    """A 403: the object may exist; these credentials may not read it. ``message`` is the API
    server's, which names the user, the verb, the resource and the namespace."""

    message: str


class _Absent(Exception):
    """The call's object is not there (or, where the caller said so, not readable): an answer, not a failure."""


@contextlib.contextmanager
def _api_call(what: str, absent: tuple[int, ...] = ()) -> Iterator[None]:
    """Turns a failed call into a KubernetesError that says ``what`` failed; a status in ``absent``
    becomes :class:`_Absent` for the caller to answer."""
    try:
        yield
    except ApiException as e:
        if e.status in absent:
            raise _Absent from e
        raise _explain(e, what) from e
    except urllib3.exceptions.HTTPError as e:
        raise _unreachable(e, what) from e


class Kube:
    """The few Kubernetes calls the clients make, with errors that say what failed."""

    def __init__(self, api: k8s.ApiClient) -> None:
        self.api = api
        self.custom = k8s.CustomObjectsApi(api)
        self.core = k8s.CoreV1Api(api)

    # --- claims ---------------------------------------------------------------------------------

    def create_claim(self, namespace: str, name: str, spec: ClaimSpec) -> Obj:
        with _api_call(f"creating SandboxClaim {namespace}/{name}"):
            obj: Obj = self.custom.create_namespaced_custom_object(
                CLAIM_GROUP, VERSION, namespace, "sandboxclaims", spec.body(name), _request_timeout=_timeouts()
            )
        return obj

    def delete_claim(self, namespace: str, name: str, timeout: float | None = None) -> bool:
        """Deletes the claim (its Sandbox and Pod follow by garbage collection). False if it was gone.
        ``timeout`` bounds each of the connect and the answer."""
        try:
            with _api_call(f"deleting SandboxClaim {namespace}/{name}", absent=(404,)):
                self.custom.delete_namespaced_custom_object(
                    CLAIM_GROUP,
                    VERSION,
                    namespace,
                    "sandboxclaims",
                    name,
                    propagation_policy="Background",
                    _request_timeout=_timeouts(timeout),
                )
        except _Absent:
            return False
        return True

    def pool_template(self, namespace: str, pool: str) -> str:
        """The SandboxTemplate a SandboxWarmPool serves."""
        try:
            with _api_call(f"reading SandboxWarmPool {namespace}/{pool}", absent=(404,)):
                obj = self.custom.get_namespaced_custom_object(
                    CLAIM_GROUP, VERSION, namespace, "sandboxwarmpools", pool, _request_timeout=_timeouts()
                )
        except _Absent as e:
            raise WarmPoolNotFound(
                pool, "WarmPoolNotFound", f"no SandboxWarmPool {pool} in namespace {namespace}"
            ) from e.__cause__
        return str(((obj.get("spec") or {}).get("sandboxTemplateRef") or {}).get("name") or "")

    def get_sandbox(self, namespace: str, name: str) -> Obj | None:
        try:
            with _api_call(f"reading Sandbox {namespace}/{name}", absent=(404,)):
                obj: Obj = self.custom.get_namespaced_custom_object(
                    SANDBOX_GROUP, VERSION, namespace, "sandboxes", name, _request_timeout=_timeouts()
                )
        except _Absent:
            return None
        return obj

    def _watch(
        self,
        group: str,
        version: str,
        namespace: str,
        plural: str,
        name: str,
        resource_version: str | None,
        seconds: float,
        abort: Abort | None,
    ) -> Generator[Obj, None, None]:
        """The watch events of the object ``name`` for about ``seconds`` (the server then ends the
        watch), from ``resource_version`` (None: its current state first). Ends early when the
        stream breaks (the caller watches again from its last resourceVersion); raises
        :class:`Aborted` when ``abort`` is set, and ApiException as the API server answered."""
        server_timeout = max(1, math.ceil(seconds))
        extra: dict[str, Any] = {} if resource_version is None else {"resource_version": resource_version}
        response = self.custom.list_namespaced_custom_object(
            group,
            version,
            namespace,
            plural,
            field_selector=f"metadata.name={name}",
            watch=True,
            allow_watch_bookmarks=True,
            timeout_seconds=server_timeout,
            _preload_content=False,
            # A server that stops sending (no event, no end) cannot hold the reader longer than this.
            _request_timeout=(API_CONNECT_TIMEOUT_S, server_timeout + WATCH_READ_GRACE_S),
            **extra,
        )
        remove = abort.add_waker(lambda: _shutdown(response)) if abort is not None else None
        try:
            for line in _lines(response):
                yield json.loads(line)
        except (urllib3.exceptions.HTTPError, OSError, ValueError):
            if abort is not None:
                abort.check()
            return
        finally:
            if remove is not None:
                remove()
            response.close()
            response.release_conn()
        if abort is not None:
            abort.check()

    def _list_claim(self, namespace: str, name: str) -> Obj:
        with _api_call(f"listing SandboxClaim {namespace}/{name}"):
            listed: Obj = self.custom.list_namespaced_custom_object(
                CLAIM_GROUP,
                VERSION,
                namespace,
                "sandboxclaims",
                field_selector=f"metadata.name={name}",
                _request_timeout=_timeouts(),
            )
        return listed

    def wait_claim_ready(
        self, namespace: str, name: str, timeout: float, created: Obj | None = None, abort: Abort | None = None
    ) -> Obj:
        """Watches the claim until its ``Ready`` condition is True (the controller sets it once the
        Sandbox is Ready and its Pod routable); fails fast on a terminal reason or a deletion.

        With ``created`` (the create call's answer) the watch starts at its resourceVersion, which
        saves the initial list; otherwise, and after ``410 Gone``, it lists first."""
        deadline = time.monotonic() + timeout
        what = f"watching SandboxClaim {namespace}/{name}"
        last: Obj | None = created
        rv: str | None = None
        if created is not None:
            if claim_outcome(name, created):
                return created
            rv = (created.get("metadata") or {}).get("resourceVersion")
        while True:
            if abort is not None:
                abort.check()
            if rv is None:
                listed = self._list_claim(namespace, name)
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
            try:
                events = self._watch(CLAIM_GROUP, VERSION, namespace, "sandboxclaims", name, rv, remaining, abort)
                with contextlib.closing(events):
                    for event in events:
                        obj = event.get("object") or {}
                        if event.get("type") == "ERROR":
                            if obj.get("code") == 410:
                                rv = None
                                break
                            raise KubernetesError(f"{what}: {obj.get('message')}")
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
                    raise _explain(e, what) from e
                rv = None
            except urllib3.exceptions.HTTPError as e:
                raise _unreachable(e, what) from e

    # --- routes ---------------------------------------------------------------------------------

    def find_service(self, namespace: str, name: str) -> Literal["found", "missing"] | Forbidden:
        """Whether a Service is there, telling a missing one (404) from one these credentials may
        not read (403): "not found" would send a user without the right looking for an install."""
        try:
            with _api_call(f"reading Service {namespace}/{name}", absent=(403, 404)):
                self.core.read_namespaced_service(name, namespace, _request_timeout=_timeouts())
        except _Absent as e:
            cause = e.__cause__
            if isinstance(cause, ApiException) and cause.status == 403:
                return Forbidden(_status_message(cause))
            return "missing"
        return "found"

    def missing_rights(self, namespace: str, rights: Sequence[str]) -> list[str] | None:
        """Which of ``rights`` (``"<verb> <resource>[/<subresource>]"``, core API group) these
        credentials lack in ``namespace``, as ``kubectl auth can-i`` asks: one
        SelfSubjectAccessReview each, all in flight at once (dev mode asks before every claim:
        one round trip, not one per right). None when the API server answers no review (the
        caller cannot know beforehand; the call itself will be refused with the server's own words).

        Not one SelfSubjectRulesReview: its list may be incomplete (webhook authorizers) or not
        served, and a right missing from it would refuse a user who has it. Not cached across
        claims either: every claim builds its client from the kubeconfig as it is then, and a
        right granted since the last claim must count."""
        if not rights:
            return []
        authz = k8s.AuthorizationV1Api(self.api)

        def ask(right: str) -> Any:
            verb, _, resource = right.partition(" ")
            plural, _, subresource = resource.partition("/")
            review = k8s.V1SelfSubjectAccessReview(
                api_version="authorization.k8s.io/v1",
                kind="SelfSubjectAccessReview",
                spec=k8s.V1SelfSubjectAccessReviewSpec(
                    resource_attributes=k8s.V1ResourceAttributes(
                        namespace=namespace, verb=verb, resource=plural, subresource=subresource or None
                    )
                ),
            )
            return authz.create_self_subject_access_review(review, _request_timeout=_timeouts())

        def asking(right: str) -> Future[Any]:
            # A daemon thread each, not a pool: on Ctrl-C nothing waits for reviews still under
            # way, at the exit either (each ends within its own request timeout anyway).
            future: Future[Any] = Future()

            def run() -> None:
                try:
                    future.set_result(ask(right))
                except BaseException as e:  # handed to the caller, who raises it
                    future.set_exception(e)

            threading.Thread(target=run, name="sandbank-access-review", daemon=True).start()
            return future

        asked = [(right, asking(right)) for right in rights]
        missing: list[str] = []
        # Read in the order asked, so the outcome is the one asking one after another gives: the
        # first review refused means no answer, the first unreachable one fails the check.
        for right, future in asked:
            try:
                answer = future.result()
            except ApiException:
                return None
            except urllib3.exceptions.HTTPError as e:
                raise _unreachable(e, f"asking whether these credentials may {right} in namespace {namespace}") from e
            if not (answer.status is not None and answer.status.allowed):
                missing.append(right)
        return missing

    def read_secret(self, namespace: str, name: str) -> SecretLookup:
        """A Secret, telling a missing one (404) from one these credentials may not read (403)."""
        try:
            with _api_call(f"reading Secret {namespace}/{name}", absent=(403, 404)):
                secret = self.core.read_namespaced_secret(name, namespace, _request_timeout=_timeouts())
        except _Absent as e:
            forbidden = isinstance(e.__cause__, ApiException) and e.__cause__.status == 403
            return SecretLookup.forbidden() if forbidden else SecretLookup.missing()
        return SecretLookup.found({k: base64.b64decode(v) for k, v in (secret.data or {}).items() if v})

    def read_secret_key(self, namespace: str, name: str, key: str) -> str | None:
        """A Secret's key, or None when it is missing or not readable with these credentials."""
        value = self.read_secret(namespace, name).data.get(key)
        return value.decode().strip() if value else None

    def gateway_address(self, namespace: str, name: str, timeout: float, abort: Abort | None = None) -> str:
        """Watches the Gateway until ``status.addresses[0].value`` is set."""
        deadline = time.monotonic() + timeout
        group, version, plural = "gateway.networking.k8s.io", "v1", "gateways"
        what = f"watching Gateway {namespace}/{name}"
        while True:
            if abort is not None:
                abort.check()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise GatewayNotReady(f"Gateway {namespace}/{name} has no address after {timeout:g} s")
            try:
                # From the current state each time (no resourceVersion): the first event is the Gateway as it is.
                events = self._watch(group, version, namespace, plural, name, None, min(remaining, 10.0), abort)
                with contextlib.closing(events):
                    for event in events:
                        obj = event.get("object") or {}
                        for address in (obj.get("status") or {}).get("addresses") or []:
                            if address.get("value"):
                                return str(address["value"])
            except ApiException as e:
                if e.status == 404:
                    raise KubernetesError(
                        f"Gateway {namespace}/{name}: the Gateway API is not installed on this cluster", status=404
                    ) from e
                raise _explain(e, what) from e
            except urllib3.exceptions.HTTPError as e:
                raise _unreachable(e, what) from e
