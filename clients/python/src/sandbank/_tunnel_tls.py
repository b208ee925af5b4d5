"""Whether dev mode's tunnel carries TLS, and which CA verifies the router at its end.

The router serves only TLS once its certificate Secret ``sandbox-router-tls`` is mounted, and
plain HTTP only without it (a development router told to). The client asks the cluster the same
question, with the credentials that already read the router's token Secret and run the
port-forward: it reads that Secret in the router's namespace. There, https through the loopback
tunnel, the certificate verified for 127.0.0.1 (which every router certificate names) against the
Secret's own ``ca.crt``: nothing to configure, and the CA that signed what the router serves now.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass

from ._kube import SecretLookup
from ._transport import ca_source, pem_context, tls_context

#: The router's certificate Secret (manifests/base/router) and the key of its CA.
ROUTER_TLS_SECRET = "sandbox-router-tls"
ROUTER_CA_KEY = "ca.crt"


@dataclass(frozen=True)
class TunnelTls:
    #: ``https`` or ``http``: what the client speaks through the tunnel.
    scheme: str
    #: What verifies the router; None for plain HTTP.
    context: ssl.SSLContext | None
    #: How this was decided and what is trusted, for error messages.
    trust: str


def tunnel_tls(namespace: str, lookup: SecretLookup, ca_file: str | None, env: Mapping[str, str]) -> TunnelTls:
    """The tunnel's scheme and trust, from the Secret ``sandbox-router-tls`` in ``namespace``:

    - missing (404): the router has no certificate, so it serves plain HTTP; that stays on the
      loopback tunnel, as before the router spoke TLS;
    - otherwise https, verified against the ``ca_file`` argument when given (the user's word wins),
      else the Secret's ``ca.crt``, else (none in it, or the Secret not readable: 403) what
      verifies any router: ``$SANDBANK_CA_FILE``, ``$SSL_CERT_FILE`` / ``$SSL_CERT_DIR``, certifi.
      An unreadable Secret still means TLS: every install mounts one, and a wrong guess fails
      verification with a message that says what to set, never by sending anything in clear."""
    secret = f"Secret {namespace}/{ROUTER_TLS_SECRET}"
    if lookup.state == "missing":
        return TunnelTls("http", None, f"plain HTTP: no {secret}, so the router serves no TLS")
    if ca_file:
        return TunnelTls("https", tls_context(ca_file, env), "https, verified with ca_file")
    pem = lookup.data.get(ROUTER_CA_KEY)
    if pem:
        return TunnelTls(
            "https", pem_context(pem, f"{secret}: {ROUTER_CA_KEY}"), f"https, verified with {ROUTER_CA_KEY} of {secret}"
        )
    source = ca_source(None, env)
    trusted = f"${source[0]}" if source else "certifi's public CAs"
    why = "could not be read with these credentials" if lookup.state == "forbidden" else f"has no {ROUTER_CA_KEY}"
    return TunnelTls("https", tls_context(None, env), f"https: {secret} {why}; verified with {trusted}")
