"""How a client reaches the router: direct (``api_url``), gateway (``gateway_name``) or dev mode
(a ``kubectl port-forward`` it starts and stops, https through it when the router serves TLS:
see ``_tunnel_tls``), which token it presents, and over what.

The user's Kubernetes credentials go to their own API server only (through the ``kubernetes``
client and ``kubectl``). The router gets a token the user configured (``token=``,
``$SANDBANK_ROUTER_TOKEN``) or, in dev mode, the router's own token Secret, which travels only
through the loopback tunnel. Handing the kubeconfig's token to a router in ``kubernetes`` auth
mode is the user's explicit act: ``token=sandbank.kubernetes_token()``."""

from __future__ import annotations

import enum
import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ._kube import Abort, Forbidden, Kube
from ._portforward import PORT_FORWARD_RIGHTS, PortForward, kubectl_path, needs_the_rights, without_the_rights
from ._transport import allow_insecure_from, check_plain_http, tls_context
from ._tunnel_tls import ROUTER_TLS_SECRET, tunnel_tls
from .errors import ConfigurationError, PortForwardError

ROUTER_SERVICE = "sandbox-router-svc"
ROUTER_SERVICE_PORT = 8080
#: Where Sandbank installs its router (manifests/base).
DEFAULT_ROUTER_NAMESPACE = "sandbank-system"
#: The router's token Secret and key (manifests/base/router).
ROUTER_TOKEN_SECRET = "sandbox-router-auth"
ROUTER_TOKEN_KEY = "token"
TOKEN_ENV = "SANDBANK_ROUTER_TOKEN"


class Mode(enum.Enum):
    DIRECT = "direct"
    GATEWAY = "gateway"
    DEV = "dev"


def select_mode(api_url: str | None, gateway_name: str | None) -> Mode:
    """``api_url`` wins, then ``gateway_name``; otherwise dev mode (as agentic_sandbox decides)."""
    if api_url:
        if not api_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"api_url: must start with http:// or https://, got {api_url!r}")
        return Mode.DIRECT
    if gateway_name:
        return Mode.GATEWAY
    return Mode.DEV


def resolve_token(
    explicit: str | None, env: Mapping[str, str], *, secret: Callable[[], str | None] | None
) -> str | None:
    """The router credential, first found wins: the ``token`` argument; ``$SANDBANK_ROUTER_TOKEN``;
    in dev mode the router's own token Secret when these credentials can read it (the caller can
    already port-forward into the router's namespace). None: send no Authorization (a router in
    ``none`` mode). Never the kubeconfig's own credentials: those are the user's to hand over."""
    if explicit:
        return explicit
    if env.get(TOKEN_ENV):
        return env[TOKEN_ENV]
    if secret is not None:
        return secret() or None
    return None


@dataclass
class RouteOptions:
    api_url: str | None = None
    gateway_name: str | None = None
    gateway_namespace: str = "default"
    #: ``https``; ``http`` only for a Gateway without a TLS listener (a token then needs ``allow_insecure``).
    gateway_scheme: str = "https"
    gateway_ready_timeout: float = 180.0
    port_forward_ready_timeout: float = 30.0
    router_namespace: str = DEFAULT_ROUTER_NAMESPACE
    token: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    #: CA bundle that verifies the router's certificate (else ``$SANDBANK_CA_FILE``, ``$SSL_CERT_FILE``, certifi).
    ca_file: str | None = None
    #: Development only: allows a token over plain ``http://`` to a host that is not loopback.
    allow_insecure: bool = False


class Route:
    """An open way to the router. ``url()`` is the base URL (restarting a dead dev tunnel once);
    ``tls`` verifies the router over https/wss. A route that would carry its token in cleartext
    beyond this machine cannot be made (see :func:`check_plain_http`)."""

    def __init__(
        self,
        mode: Mode,
        base_url: str,
        token: str | None,
        tunnel: PortForward | None = None,
        *,
        tls: ssl.SSLContext | None = None,
        allow_insecure: bool = False,
        what: str = "router URL",
        note: str = "",
    ) -> None:
        check_plain_http(base_url, token, allow_insecure=allow_insecure, what=what)
        self.mode = mode
        self._base_url = base_url.rstrip("/")
        self.token = token
        self.tunnel = tunnel
        self.tls = tls if tls is not None else tls_context(None, os.environ)
        #: How the route speaks to the router (a dev tunnel's scheme and trust), for error messages.
        self.note = note

    def ws_tls(self, ws_url: str) -> ssl.SSLContext | None:
        """``ssl=`` for a WebSocket to ``ws_url``: the router's TLS context for wss, none for ws."""
        return self.tls if ws_url.startswith("wss://") else None

    def url(self) -> str:
        if self.tunnel is not None:
            return self.tunnel.ensure_alive()
        return self._base_url

    def recover(self) -> bool:
        """After a connection error: True if retrying may help (a dev tunnel that died was restarted)."""
        if self.tunnel is None or self.tunnel.alive():
            return self.tunnel is not None
        self.tunnel.ensure_alive()
        return True

    def close(self) -> None:
        if self.tunnel is not None:
            self.tunnel.stop()


def dev_router_namespace(kube: Kube, claim_namespace: str, router_namespace: str) -> str:
    """Where to port-forward: the claim's namespace when it has its own router (agentic_sandbox's
    rule), else Sandbank's router namespace, once these credentials may port-forward there.
    A clear error otherwise, before any claim is made: a Service not found is an install to make;
    a Service these credentials may not read (403) or a port-forward they may not open is a right
    to ask for, or a reason to connect another way."""
    missing: list[str] = []
    refused: dict[str, str] = {}
    for ns in dict.fromkeys((claim_namespace, router_namespace)):
        found = kube.find_service(ns, ROUTER_SERVICE)
        if found == "found":
            check_port_forward_rights(kube, ns)
            return ns
        if isinstance(found, Forbidden):
            refused[ns] = found.message
        else:
            missing.append(ns)
    if refused:
        where = " nor ".join(refused)
        absent = f"; and there is no Service {ROUTER_SERVICE} in namespace {' nor '.join(missing)}" if missing else ""
        raise PortForwardError(
            f"dev mode cannot use Service {ROUTER_SERVICE}: these Kubernetes credentials may not get services "
            f"in namespace {where} (the API server said: {'; '.join(refused.values())}){absent}. "
            "Dev mode port-forwards to the router and " + needs_the_rights("its namespace", " or ".join(refused))
        )
    raise PortForwardError(
        f"Service {ROUTER_SERVICE} not found in namespace {' nor '.join(missing)}"
        + ": install Sandbank (kubectl apply -k manifests/overlays/<yours>), or pass api_url= or gateway_name="
    )


def check_port_forward_rights(kube: Kube, namespace: str) -> None:
    """Asks the API server whether these credentials may do what ``kubectl port-forward`` does in
    ``namespace``; fails naming what they may not. Asked before the claim, so a refused user
    waits for no sandbox that they could not reach. An API server that answers no access review
    leaves the answer to kubectl (whose 403 is explained too)."""
    lacking = kube.missing_rights(namespace, PORT_FORWARD_RIGHTS)
    if lacking:
        raise PortForwardError(
            f"dev mode cannot port-forward to Service {ROUTER_SERVICE}: these Kubernetes credentials may not "
            f"{', '.join(lacking)} in namespace {namespace}: " + without_the_rights(namespace)
        )


def prepare_route(
    kube: Kube | None, opts: RouteOptions, claim_namespace: str, abort: Abort | None = None
) -> Callable[[], Route]:
    """Checks everything that can fail about the route (kubectl present, the router Service found,
    the Gateway's address, the token) and returns what opens it. Called before the claim is
    created, so a misconfigured client fails at once and leaves nothing behind. ``abort`` stops
    the wait for the Gateway's address from another thread."""
    mode = select_mode(opts.api_url, opts.gateway_name)
    if opts.gateway_scheme not in ("http", "https"):
        raise ConfigurationError(f"gateway_scheme: must be https or http, got {opts.gateway_scheme!r}")
    insecure = allow_insecure_from(opts.allow_insecure, os.environ)
    tls = tls_context(opts.ca_file, os.environ)
    if mode is Mode.DIRECT:
        assert opts.api_url is not None
        token = resolve_token(opts.token, os.environ, secret=None)
        direct = Route(mode, opts.api_url, token, tls=tls, allow_insecure=insecure, what="api_url")
        return lambda: direct
    if kube is None:
        raise ConfigurationError("gateway and dev mode need Kubernetes credentials; pass api_url= to connect directly")
    if mode is Mode.GATEWAY:
        assert opts.gateway_name is not None
        token = resolve_token(opts.token, os.environ, secret=None)
        address = kube.gateway_address(opts.gateway_namespace, opts.gateway_name, opts.gateway_ready_timeout, abort)
        url = f"{opts.gateway_scheme}://{address}"
        what = f"Gateway {opts.gateway_namespace}/{opts.gateway_name} ({url}, gateway_scheme={opts.gateway_scheme!r})"
        gateway = Route(mode, url, token, tls=tls, allow_insecure=insecure, what=what)
        return lambda: gateway
    kubectl_path()
    namespace = dev_router_namespace(kube, claim_namespace, opts.router_namespace)
    # What the router behind the tunnel speaks, from its certificate Secret (see _tunnel_tls).
    speaks = tunnel_tls(namespace, kube.read_secret(namespace, ROUTER_TLS_SECRET), opts.ca_file, os.environ)
    token = resolve_token(
        opts.token,
        os.environ,
        secret=lambda: kube.read_secret_key(namespace, ROUTER_TOKEN_SECRET, ROUTER_TOKEN_KEY),
    )

    def open_tunnel() -> Route:
        tunnel = PortForward(
            namespace,
            ROUTER_SERVICE,
            ROUTER_SERVICE_PORT,
            ready_timeout=opts.port_forward_ready_timeout,
            kubeconfig=opts.kubeconfig,
            context=opts.context,
            scheme=speaks.scheme,
        )
        # The tunnel listens on 127.0.0.1: even plain HTTP stays on this machine. Over https the
        # router's certificate is verified for 127.0.0.1, the address the client dials.
        return Route(
            mode,
            tunnel.start(),
            token,
            tunnel,
            tls=speaks.context if speaks.context is not None else tls,
            allow_insecure=insecure,
            what="dev tunnel",
            note=speaks.trust,
        )

    return open_tunnel
