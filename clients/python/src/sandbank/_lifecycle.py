"""A sandbox's life as the handles see it: claim → wait for Ready (a watch) → open the route;
and on the way out, close the route and delete the claim. Synchronous (the ``kubernetes``
client is); the asyncio handles run these in a worker thread.

Whatever interrupts it (Ctrl-C at any point, a cancelled task, an error), a claim created here is
deleted, and the way out is bounded: see :func:`delete_bounded`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from ._kube import (
    API_CONNECT_TIMEOUT_S,
    API_READ_TIMEOUT_S,
    Abort,
    Aborted,
    ClaimSpec,
    Kube,
    load_api_client,
    new_claim_name,
)
from ._route import Route, RouteOptions, prepare_route
from .errors import ConfigurationError, KubernetesError

log = logging.getLogger("sandbank")

Connection = RouteOptions

#: Once the user interrupted (Ctrl-C, a cancelled task), how long deleting the claim may still
#: take. The delete is not dropped at the interrupt (the claim would be left running), but a slow
#: or unreachable API server cannot hold the exit either.
INTERRUPT_GRACE_S = 3.0
#: Pause between attempts at deleting a claim when the API server did not answer or said 5xx/429.
DELETE_RETRY_S = 0.2


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
    #: Set by the first :func:`release`.
    released: bool = False


def interrupted(error: BaseException) -> bool:
    """Whether leaving because of ``error`` means the user wants out now (Ctrl-C, a cancelled task)."""
    return isinstance(error, Aborted) or not isinstance(error, Exception)


def delete_on_the_way_out(
    kube: Kube, namespace: str, name: str, *, urgent: bool = False, hurry: Abort | None = None
) -> KubernetesError | None:
    """Deletes a claim on the way out of a block (its end, an error, Ctrl-C, a cancelled task).
    Returns None when the claim is gone (deleted now or before), else the error (the API server
    refused, or did not answer in time: the claim may be left). See :func:`delete_bounded`."""
    try:
        delete_bounded(kube, namespace, name, urgent=urgent, hurry=hurry)
    except KubernetesError as e:
        return e
    return None


def delete_bounded(kube: Kube, namespace: str, name: str, *, urgent: bool = False, hurry: Abort | None = None) -> bool:
    """Deletes a claim; True if it existed. Raises KubernetesError if the API server refused or
    did not answer in time.

    The delete runs in a helper thread while this one waits for it, so an interrupt does not
    abandon it: the first Ctrl-C (KeyboardInterrupt here) or ``hurry`` only shortens the wait to
    :data:`INTERRUPT_GRACE_S`, and the KeyboardInterrupt is raised again once the delete is done.
    A second Ctrl-C stops waiting at once. ``urgent``: the grace applies from the start (leaving
    because of an interrupt). Transient failures are retried within the time allowed."""
    grace = INTERRUPT_GRACE_S if urgent else API_CONNECT_TIMEOUT_S + API_READ_TIMEOUT_S
    outcome: list[bool | KubernetesError] = []
    wake = threading.Event()

    def attempt() -> None:
        result: bool | KubernetesError = KubernetesError(f"deleting SandboxClaim {namespace}/{name}: not attempted")
        give_up = time.monotonic() + grace
        try:
            while True:
                try:
                    result = kube.delete_claim(namespace, name, timeout=None if not urgent else grace)
                    return
                except KubernetesError as e:
                    result = e
                    transient = e.status is None or e.status == 429 or e.status >= 500
                    if not transient or time.monotonic() + DELETE_RETRY_S >= give_up:
                        return
                time.sleep(DELETE_RETRY_S)
        except Exception as e:  # anything else still ends the wait, with a reason
            result = KubernetesError(f"deleting SandboxClaim {namespace}/{name}: {e}")
        finally:
            outcome.append(result)
            wake.set()

    deadline = time.monotonic() + grace
    interrupt: BaseException | None = None
    hurried = False
    worker: threading.Thread | None = threading.Thread(target=attempt, name="sandbank-delete-claim", daemon=True)
    unhook = hurry.add_waker(wake.set) if hurry is not None else None
    try:
        while not outcome:
            if hurry is not None and hurry.is_set() and not hurried:
                hurried = True
                deadline = min(deadline, time.monotonic() + INTERRUPT_GRACE_S)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                if worker is not None:
                    # Inside the try: start() waits for the thread to run, and Ctrl-C may land there.
                    starting, worker = worker, None
                    starting.start()
                wake.wait(remaining)
            except KeyboardInterrupt as e:
                if interrupt is not None:
                    raise
                interrupt = e
                deadline = min(deadline, time.monotonic() + INTERRUPT_GRACE_S)
            wake.clear()
    finally:
        if unhook is not None:
            unhook()
    result = (
        outcome[0]
        if outcome
        else KubernetesError(
            f"deleting SandboxClaim {namespace}/{name}: no answer from the API server in time; "
            f"it may be left: kubectl delete sandboxclaim {name} -n {namespace}"
        )
    )
    if interrupt is not None:
        if isinstance(result, KubernetesError):
            log.warning("%s", result)
        raise interrupt
    if isinstance(result, KubernetesError):
        raise result
    return result


def provision(
    opts: Connection,
    namespace: str,
    spec: ClaimSpec | None,
    *,
    attach: str | None = None,
    ready_timeout: float,
    name: str | None = None,
    abort: Abort | None = None,
    on_ready: Callable[[Provisioned], None] | None = None,
) -> Provisioned:
    """Creates a claim from ``spec`` (or attaches to the claim ``attach``), waits until it is Ready,
    and opens the route. A claim this call created is deleted again if anything fails, including
    Ctrl-C at any point (also while the create call is under way: the name is chosen here), so
    nothing is left behind. ``abort`` stops the call from another thread (a cancelled task).

    ``on_ready`` receives the result before it is returned: a caller that stores it there owns it
    even if Ctrl-C lands as the call returns (its own ``except`` can then release it)."""
    kube = kube_for(opts)
    open_route = prepare_route(kube, opts, namespace, abort)
    owned = attach is None
    claim = attach if attach is not None else name or new_claim_name()
    if owned:
        assert spec is not None
        if not spec.template and spec.warmpool:
            spec = replace(spec, template=kube.pool_template(namespace, spec.warmpool))
    maybe_created = False
    route: Route | None = None
    provisioned: Provisioned | None = None
    try:
        created = None
        if owned:
            assert spec is not None
            if abort is not None:
                abort.claim = (kube, namespace, claim)
                abort.check()
            maybe_created = True
            try:
                created = kube.create_claim(namespace, claim, spec)
            except KubernetesError as e:
                # The API server answered with a refusal (a 409 may even be someone else's claim):
                # nothing of ours to delete. No answer (status None): it may exist.
                maybe_created = e.status is None
                raise
        kube.wait_claim_ready(namespace, claim, ready_timeout, created, abort)
        route = open_route()
        if abort is not None:
            abort.check()
        provisioned = Provisioned(kube, claim, namespace, route, owned)
        if on_ready is not None:
            on_ready(provisioned)
    except BaseException as e:
        urgent = interrupted(e)
        if provisioned is not None:
            release_quietly(provisioned, urgent=urgent)
        else:
            _undo(kube, namespace, claim if maybe_created else None, route, urgent=urgent)
        raise
    return provisioned


def _undo(kube: Kube, namespace: str, claim: str | None, route: Route | None, *, urgent: bool) -> None:
    """After a failed or interrupted provision: closes the route and deletes the claim, keeping
    the original error (a failed delete is logged with the claim's name)."""
    try:
        if route is not None:
            route.close()
    finally:
        if claim is not None:
            error = delete_on_the_way_out(kube, namespace, claim, urgent=urgent)
            if error is not None:
                log.warning("%s", error)


def release_quietly(p: Provisioned, *, urgent: bool) -> None:
    """:func:`release` on a failure path: the claim is deleted if owned; a failure to delete is
    logged (with the claim's name) instead of hiding the original error."""
    try:
        release(p, p.owned, urgent=urgent)
    except KubernetesError as e:
        log.warning("%s", e)


def release(p: Provisioned, delete: bool, *, urgent: bool = False, hurry: Abort | None = None) -> None:
    """Closes the route, then deletes the claim when asked (its Sandbox and Pod follow); see
    :func:`delete_on_the_way_out` for ``urgent`` and ``hurry``. Raises KubernetesError if the
    claim could not be deleted. Only the first call does anything."""
    if p.released:
        return
    p.released = True
    try:
        p.route.close()
    finally:
        if delete:
            error = delete_on_the_way_out(p.kube, p.namespace, p.name, urgent=urgent, hurry=hurry)
            if error is not None:
                raise error


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


__all__ = [
    "Connection",
    "Provisioned",
    "claim_spec",
    "connection_options",
    "delete_bounded",
    "delete_on_the_way_out",
    "interrupted",
    "provision",
    "release",
    "release_quietly",
]
