"""How a credential may travel to the router: never in cleartext beyond this machine, and over
TLS only to a server whose certificate a trusted CA signed.

A token over plain ``http://`` is allowed only to a loopback address (dev mode's port-forward,
a router run on this machine); anything else needs ``https://`` or the explicit development
override ``allow_insecure`` / ``$SANDBANK_ALLOW_INSECURE``. The host is judged by how the URL
spells it, never by what a name resolves to: DNS can point a name anywhere.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

import certifi

from .errors import ConfigurationError, InsecureTransport

ALLOW_INSECURE_ENV = "SANDBANK_ALLOW_INSECURE"
CA_FILE_ENV = "SANDBANK_CA_FILE"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def is_loopback_host(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1 (also as an IPv4-mapped IPv6 address), as written."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def allow_insecure_from(explicit: bool, env: Mapping[str, str]) -> bool:
    """The ``allow_insecure`` argument, or ``$SANDBANK_ALLOW_INSECURE`` (1/true/yes/on)."""
    if explicit:
        return True
    raw = env.get(ALLOW_INSECURE_ENV, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigurationError(f"{ALLOW_INSECURE_ENV}: expected 1 or 0 (true/false), got {raw!r}")


def check_plain_http(url: str, token: str | None, *, allow_insecure: bool, what: str) -> None:
    """Raises :class:`InsecureTransport` when ``token`` would go over plain ``http://`` to a host
    that is not loopback. ``what`` names the setting the URL came from, for the message."""
    if not token or allow_insecure:
        return
    parts = urlsplit(url)
    if parts.scheme != "http":
        return
    host = parts.hostname or ""
    if is_loopback_host(host):
        return
    raise InsecureTransport(
        f"{what}: refusing to send the router token over plain http:// to {host!r}, which is not a "
        f"loopback address (anyone on the way could read it). Use https://, or, for development "
        f"only, pass allow_insecure=True or set {ALLOW_INSECURE_ENV}=1"
    )


def ca_source(ca_file: str | None, env: Mapping[str, str]) -> tuple[str, str] | None:
    """Which CA bundle verifies the router: ``ca_file``, else ``$SANDBANK_CA_FILE``, else
    ``$SSL_CERT_FILE`` / ``$SSL_CERT_DIR`` (as httpx itself reads them); None: certifi's bundle.
    Returned as (setting, path), the setting named in errors."""
    for setting, value in (("ca_file", ca_file), (CA_FILE_ENV, env.get(CA_FILE_ENV))):
        if value:
            return setting, value
    for setting in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        if env.get(setting):
            return setting, env[setting]
    return None


def tls_context(ca_file: str | None, env: Mapping[str, str]) -> ssl.SSLContext:
    """The TLS context for the router: certificate and host name verified against
    :func:`ca_source`. A bundle that cannot be read fails here, naming the setting."""
    source = ca_source(ca_file, env)
    if source is None:
        return _context("", "", 0)
    setting, path = source
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError as e:
        raise ConfigurationError(f"{setting}: cannot read the CA bundle {path!r}: {e.strerror}") from e
    try:
        return _context(setting, path, stamp)
    except (OSError, ssl.SSLError) as e:
        raise ConfigurationError(f"{setting}: {path!r} is not a usable CA bundle: {e}") from e


@functools.lru_cache(maxsize=8)
def _context(setting: str, path: str, stamp: int) -> ssl.SSLContext:
    """One context per bundle (and version of it: ``stamp`` is its mtime): loading a bundle costs
    ~40 ms, which every handle, i.e. every ``with SandboxClient(...)``, would otherwise pay."""
    if not path:
        return ssl.create_default_context(cafile=certifi.where())
    if setting == "SSL_CERT_DIR":
        return ssl.create_default_context(capath=path)
    return ssl.create_default_context(cafile=path)


def pem_context(pem: bytes, what: str) -> ssl.SSLContext:
    """A TLS context that trusts exactly the CA certificate(s) in ``pem`` (certificate and host
    name verified as for any CA). ``what`` names where the PEM came from, for the error."""
    try:
        return _pem_context(pem.decode("ascii"))
    except (UnicodeDecodeError, ValueError, ssl.SSLError) as e:
        raise ConfigurationError(f"{what} is not a usable CA certificate: {e}") from e


@functools.lru_cache(maxsize=8)
def _pem_context(pem: str) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=pem)
