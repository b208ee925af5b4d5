"""How a client reaches the router: direct (``api_url``), gateway (``gateway_name``) or dev mode
(a ``kubectl port-forward`` it starts and stops), and which token it presents."""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ._kube import Abort, Kube, bearer_token
from ._portforward import PortForward, kubectl_path
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
    explicit: str | None,
    env: Mapping[str, str],
    *,
    secret: Callable[[], str | None] | None,
    kube_bearer: Callable[[], str | None] | None,
) -> str | None:
    """The router credential, first found wins: the ``token`` argument; ``$SANDBANK_ROUTER_TOKEN``;
    in dev mode the router's own token Secret when these credentials can read it (the caller can
    already port-forward into the router's namespace); the kubeconfig's bearer token (the router's
    ``kubernetes`` auth mode). None: send no Authorization (a router in ``none`` mode)."""
    if explicit:
        return explicit
    if env.get(TOKEN_ENV):
        return env[TOKEN_ENV]
    for source in (secret, kube_bearer):
        if source is not None:
            value = source()
            if value:
                return value
    return None


@dataclass
class RouteOptions:
    api_url: str | None = None
    gateway_name: str | None = None
    gateway_namespace: str = "default"
    gateway_scheme: str = "http"
    gateway_ready_timeout: float = 180.0
    port_forward_ready_timeout: float = 30.0
    router_namespace: str = DEFAULT_ROUTER_NAMESPACE
    token: str | None = None
    kubeconfig: str | None = None
    context: str | None = None


class Route:
    """An open way to the router. ``url()`` is the base URL (restarting a dead dev tunnel once)."""

    def __init__(self, mode: Mode, base_url: str, token: str | None, tunnel: PortForward | None = None) -> None:
        self.mode = mode
        self._base_url = base_url.rstrip("/")
        self.token = token
        self.tunnel = tunnel

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
    rule), else Sandbank's router namespace; a clear error when neither has the Service."""
    for ns in dict.fromkeys((claim_namespace, router_namespace)):
        if kube.service_exists(ns, ROUTER_SERVICE):
            return ns
    raise PortForwardError(
        f"Service {ROUTER_SERVICE} not found in namespace {claim_namespace}"
        + (f" nor {router_namespace}" if router_namespace != claim_namespace else "")
        + ": install Sandbank (kubectl apply -k manifests/overlays/<yours>), or pass api_url= or gateway_name="
    )


def prepare_route(
    kube: Kube | None, opts: RouteOptions, claim_namespace: str, abort: Abort | None = None
) -> Callable[[], Route]:
    """Checks everything that can fail about the route (kubectl present, the router Service found,
    the Gateway's address, the token) and returns what opens it. Called before the claim is
    created, so a misconfigured client fails at once and leaves nothing behind. ``abort`` stops
    the wait for the Gateway's address from another thread."""
    mode = select_mode(opts.api_url, opts.gateway_name)
    kube_bearer = (lambda: bearer_token(kube.api)) if kube is not None else None
    if mode is Mode.DIRECT:
        assert opts.api_url is not None
        direct = Route(mode, opts.api_url, resolve_token(opts.token, os.environ, secret=None, kube_bearer=kube_bearer))
        return lambda: direct
    if kube is None:
        raise ConfigurationError("gateway and dev mode need Kubernetes credentials; pass api_url= to connect directly")
    if mode is Mode.GATEWAY:
        assert opts.gateway_name is not None
        address = kube.gateway_address(opts.gateway_namespace, opts.gateway_name, opts.gateway_ready_timeout, abort)
        token = resolve_token(opts.token, os.environ, secret=None, kube_bearer=kube_bearer)
        gateway = Route(mode, f"{opts.gateway_scheme}://{address}", token)
        return lambda: gateway
    kubectl_path()
    namespace = dev_router_namespace(kube, claim_namespace, opts.router_namespace)
    token = resolve_token(
        opts.token,
        os.environ,
        secret=lambda: kube.read_secret_key(namespace, ROUTER_TOKEN_SECRET, ROUTER_TOKEN_KEY),
        kube_bearer=kube_bearer,
    )

    def open_tunnel() -> Route:
        tunnel = PortForward(
            namespace,
            ROUTER_SERVICE,
            ROUTER_SERVICE_PORT,
            ready_timeout=opts.port_forward_ready_timeout,
            kubeconfig=opts.kubeconfig,
            context=opts.context,
        )
        return Route(mode, tunnel.start(), token, tunnel)

    return open_tunnel
