"""Private CAs and server certificates for the tests, made with openssl (P-256 keys: instant)."""

from __future__ import annotations

import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pki:
    """A CA (``ca_file``) and a server certificate it signed (``cert_file``, ``key_file``)."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_pki(d: Path, san: str) -> Pki:
    """A new CA in ``d`` and a certificate for ``san`` (an openssl subjectAltName value) it signed."""
    d.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        done = subprocess.run(["openssl", *args], cwd=d, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"openssl {' '.join(args)}: {done.stderr}"

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    ca = ["-subj", f"/CN=Sandbank test CA {d.name}", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", *ca)
    openssl("req", "-new", *key, "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=sandbox-router-svc")
    # What strict verifiers (Python >= 3.13) require of a server certificate besides its name.
    (d / "ext").write_text(
        f"subjectAltName={san}\nbasicConstraints=CA:FALSE\nauthorityKeyIdentifier=keyid,issuer\n"
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    openssl(
        "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "srv.pem", "-days", "2", "-extfile", "ext",
    )  # fmt: skip
    return Pki(d / "ca.pem", d / "srv.pem", d / "srv.key")
