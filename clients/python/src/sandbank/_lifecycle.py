"""A sandbox's life as the handles see it: claim → wait for Ready (a watch) → open the route;
and on the way out, close the route and delete the claim. Synchronous (the ``kubernetes``
client is); the asyncio handles run these in a worker thread."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from ._kube import ClaimSpec, Kube, load_api_client, new_claim_name
from ._route import Route, RouteOptions, prepare_route
from .errors import ConfigurationError

Connection = RouteOptions


def connection_options(
    connection: Connection | None, api_url: str | None, gateway_name: str | None, token: str | None
) -> Connection:
    """``connection`` with the shortcut arguments applied on top."""
    opts = connection or Connection()
    return replace(
        opts,
        api_url=api_url or opts.api_url,
        gateway_name=gateway_name or opts.gateway_name,
        token=token or opts.token,
    )


def kube_for(opts: Connection) -> Kube:
    return Kube(load_api_client(opts.kubeconfig, opts.context))


@dataclass
class Provisioned:
    kube: Kube
    name: str
    namespace: str
    route: Route
    owned: bool


def provision(
    opts: Connection,
    namespace: str,
    spec: ClaimSpec | None,
    *,
    attach: str | None = None,
    ready_timeout: float,
    name: str | None = None,
) -> Provisioned:
    """Creates a claim from ``spec`` (or attaches to the claim ``attach``), waits until it is Ready,
    and opens the route. A claim this call created is deleted again if anything fails, including
    Ctrl-C, so nothing is left behind."""
    kube = kube_for(opts)
    open_route = prepare_route(kube, opts, namespace)
    owned = attach is None
    created = None
    if attach is not None:
        claim = attach
    else:
        assert spec is not None
        if not spec.template and spec.warmpool:
            spec = replace(spec, template=kube.pool_template(namespace, spec.warmpool))
        claim = name or new_claim_name()
        created = kube.create_claim(namespace, claim, spec)
    try:
        kube.wait_claim_ready(namespace, claim, ready_timeout, created)
        route = open_route()
    except BaseException:
        if owned:
            kube.delete_claim(namespace, claim)
        raise
    return Provisioned(kube, claim, namespace, route, owned)


def release(p: Provisioned, delete: bool) -> None:
    """Closes the route, then deletes the claim when asked (its Sandbox and Pod follow)."""
    try:
        p.route.close()
    finally:
        if delete:
            p.kube.delete_claim(p.namespace, p.name)


def claim_spec(
    template: str | None,
    warmpool: str | None,
    shutdown_after_seconds: float | None,
    labels: Mapping[str, str] | None,
    env: Mapping[str, str] | None,
) -> ClaimSpec:
    if not template and not warmpool:
        raise ConfigurationError("template: name a SandboxTemplate (or pass warmpool= to use a pool's template)")
    return ClaimSpec(
        template=template or "",
        warmpool=warmpool,
        shutdown_after_seconds=shutdown_after_seconds,
        labels=labels,
        env=env,
    )


__all__ = ["Connection", "Provisioned", "claim_spec", "connection_options", "provision", "release"]
