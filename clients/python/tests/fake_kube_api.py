"""A loopback stand-in for the Kubernetes API server, for the clients' dev mode (the unit tests'
``api`` and ``kube`` fixtures, tests/unit/conftest.py), and the handle on the ``kubectl
port-forward`` stand-in (tests/kubectl_relay.py) that the ``relay`` fixture installs."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests import kubectl_relay

ROUTER_NS = "sandbank-system"
CLAIM_NS = "default"
#: The router token the stand-in's ``sandbox-router-auth`` Secret holds.
TOKEN = "router-secret-token"


@dataclass
class FakeApi:
    """GETs of ``/api/v1/namespaces/<ns>/<kind>/<name>``: the objects set, a 403 for the names
    (or whole paths) in ``forbidden``, else 404, as the API server answers them. POSTs of
    SelfSubjectAccessReviews: allowed, but for the ``"<verb> <resource>[/<subresource>] <namespace>"``
    in ``denied``."""

    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    forbidden: set[str] = field(default_factory=set)
    denied: set[str] = field(default_factory=set)
    seen: list[str] = field(default_factory=list)
    #: The access reviews asked, as ``"<verb> <resource>[/<subresource>] <namespace>"``.
    reviewed: list[str] = field(default_factory=list)
    port: int = 0
    #: Set: every access review waits here (up to 10 s) for the others before it is answered, as
    #: a server that answers only once all of them arrived.
    reviews_meet: threading.Barrier | None = None
    #: Set: access reviews are answered with this status (404: an API server that serves none).
    reviews_refused: int | None = None
    #: The most access reviews that were under way at the same time.
    reviews_together: int = 0
    _reviews_under_way: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def secret(self, name: str, data: dict[str, bytes], namespace: str = ROUTER_NS) -> None:
        encoded = {k: base64.b64encode(v).decode() for k, v in data.items()}
        self.objects[f"/api/v1/namespaces/{namespace}/secrets/{name}"] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "data": encoded,
        }

    def service(self, namespace: str = ROUTER_NS) -> None:
        self.objects[f"/api/v1/namespaces/{namespace}/services/sandbox-router-svc"] = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "sandbox-router-svc", "namespace": namespace},
            "spec": {"ports": [{"name": "https", "port": 8080}]},
        }

    def answer(self, path: str) -> tuple[int, dict[str, Any]]:
        self.seen.append(path)
        # As the API server: RBAC first, whether or not the object exists.
        forbidden = path in self.forbidden or path.rsplit("/", 1)[-1] in self.forbidden
        if path in self.objects and not forbidden:
            return 200, self.objects[path]
        code, reason = (403, "Forbidden") if forbidden else (404, "NotFound")
        status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code}
        # The API server's own wording (names the user, the verb, the resource and the namespace).
        *_, namespace, plural, name = path.split("/")
        message = (
            f'{plural} "{name}" is forbidden: User "alice" cannot get resource "{plural}" in API group "" '
            f'in the namespace "{namespace}"'
            if forbidden
            else f'{plural} "{name}" not found'
        )
        return code, {**status, "message": message}

    def review(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        attrs = body["spec"]["resourceAttributes"]
        resource = attrs["resource"] + (f"/{attrs['subresource']}" if attrs.get("subresource") else "")
        asked = f"{attrs['verb']} {resource} {attrs['namespace']}"
        with self._lock:
            self.reviewed.append(asked)
            self._reviews_under_way += 1
            self.reviews_together = max(self.reviews_together, self._reviews_under_way)
        try:
            if self.reviews_meet is not None:
                with contextlib.suppress(threading.BrokenBarrierError):
                    self.reviews_meet.wait(timeout=10)
        finally:
            with self._lock:
                self._reviews_under_way -= 1
        if self.reviews_refused is not None:
            code = self.reviews_refused
            return code, {
                "kind": "Status",
                "status": "Failure",
                "code": code,
                "message": "the server could not find it",
            }
        allowed = asked not in self.denied
        return 201, {**body, "status": {"allowed": allowed}}


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api: FakeApi

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        self.reply(*self.api.answer(self.path.split("?", 1)[0]))

    def do_POST(self) -> None:  # noqa: N802 (the http.server API)
        sent = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        if self.path.split("?", 1)[0] == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":
            self.reply(*self.api.review(sent))
        else:
            self.reply(405, {"kind": "Status", "status": "Failure", "code": 405, "message": f"POST {self.path}"})

    def reply(self, code: int, obj: dict[str, Any]) -> None:
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Relay:
    log: Path

    def forwarded(self) -> list[dict[str, str]]:
        return kubectl_relay.forwarded(self.log)


def forward_to(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    """The far end of the ``kubectl port-forward`` stand-in: a server on 127.0.0.1:``port``."""
    monkeypatch.setenv(kubectl_relay.TARGET_ENV, f"127.0.0.1:{port}")
