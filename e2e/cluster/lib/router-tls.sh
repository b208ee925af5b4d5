# shellcheck shell=bash
# The router's TLS material for the local cluster (up.sh): a CA made for this one cluster state
# and a serving certificate it signs, so that the bearer token never crosses the node's network in
# cleartext and clients can still verify whom they talk to. Everything lives in <state-dir>/router-tls,
# which `make down` removes with the rest of the state dir: each cluster gets a CA of its own.
# Source it after lib/common.sh; needs openssl. Keys are P-256 (instant, unlike RSA).

# The names a client may dial the router by: the Service's DNS names (in-cluster clients),
# localhost and the loopback addresses (`kubectl port-forward svc/sandbox-router-svc`).
# router_tls_ensure_in names another namespace's Service (the agent-sandbox compatibility router).
ROUTER_TLS_SERVICE=sandbox-router-svc
ROUTER_TLS_NAMESPACE=sandbank-system
# A certificate that expires within this many seconds is made anew (30 days).
ROUTER_TLS_MIN_VALIDITY=2592000

# router_tls_sans <ip>...: the subjectAltName value for the serving certificate, each <ip> (the
# Service's ClusterIP) included.
router_tls_sans() {
  local svc=$ROUTER_TLS_SERVICE ns=$ROUTER_TLS_NAMESPACE ip san
  san="DNS:$svc,DNS:$svc.$ns,DNS:$svc.$ns.svc,DNS:$svc.$ns.svc.cluster.local,DNS:localhost"
  san+=",IP:127.0.0.1,IP:::1"
  for ip in "$@"; do san+=",IP:$ip"; done
  printf '%s\n' "$san"
}

# router_tls_ensure <dir> <ip>...: makes sure <dir> holds ca.crt, ca.key, tls.crt and tls.key, the
# serving certificate signed by that CA and valid for router_tls_sans <ip>...; prints "reused" when
# everything was already there and fits, "created" when something was (re)made. The CA is kept
# while it is valid (clients that trust it keep working); the serving certificate is made anew
# when the names it must cover changed (a new ClusterIP) or it is about to expire.
router_tls_ensure() {
  local dir=$1 san
  shift
  command -v openssl >/dev/null || die "openssl is missing (apt-get install openssl)"
  san=$(router_tls_sans "$@")
  mkdir -p "$dir"
  chmod 700 "$dir"
  if router_tls_valid "$dir/ca.crt" && [ -f "$dir/ca.key" ] && router_tls_valid "$dir/tls.crt" &&
    [ -f "$dir/tls.key" ] && [ "$(cat "$dir/tls.san" 2>/dev/null)" = "$san" ] &&
    openssl verify -CAfile "$dir/ca.crt" "$dir/tls.crt" >/dev/null 2>&1; then
    echo reused
    return 0
  fi
  if ! router_tls_valid "$dir/ca.crt" || [ ! -f "$dir/ca.key" ]; then router_tls_new_ca "$dir"; fi
  router_tls_new_cert "$dir" "$san"
  echo created
}

# router_tls_ensure_in <namespace> <ca-dir> <dir> <ip>...: router_tls_ensure for the router
# Service in <namespace>, with the CA of <ca-dir> (made there by router_tls_ensure first), so one
# CA file verifies every router of the cluster. A new CA in <ca-dir> is copied over and makes the
# certificate in <dir> anew (it no longer verifies against the CA).
router_tls_ensure_in() {
  local ROUTER_TLS_NAMESPACE=$1 ca_dir=$2 dir=$3 f
  shift 3
  mkdir -p "$dir"
  chmod 700 "$dir"
  for f in ca.crt ca.key; do
    [ -f "$ca_dir/$f" ] || die "router_tls_ensure_in: $ca_dir/$f is missing (run router_tls_ensure there first)"
    cmp -s "$ca_dir/$f" "$dir/$f" || (umask 077 && cp "$ca_dir/$f" "$dir/$f")
  done
  router_tls_ensure "$dir" "$@"
}

# router_tls_valid <cert>: the file is a certificate that is valid for ROUTER_TLS_MIN_VALIDITY more.
router_tls_valid() {
  [ -f "$1" ] && openssl x509 -in "$1" -noout -checkend "$ROUTER_TLS_MIN_VALIDITY" >/dev/null 2>&1
}

router_tls_newkey() {
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null) ||
    die "openssl could not make a key in $1"
}

# router_tls_new_ca <dir>: a CA that can sign only end-entity certificates (pathlen 0), 10 years.
router_tls_new_ca() {
  local dir=$1
  router_tls_newkey "$dir/ca.key"
  openssl req -x509 -new -sha256 -key "$dir/ca.key" -days 3650 -out "$dir/ca.crt" \
    -subj "/O=Sandbank local cluster/CN=Sandbank router CA $(date -u +%Y%m%dT%H%M%SZ)" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" 2>/dev/null || die "openssl could not make the router CA in $dir"
  # a new CA invalidates the old serving certificate
  rm -f "$dir/tls.crt" "$dir/tls.san"
}

# router_tls_new_cert <dir> <san>: a serving certificate (serverAuth) for <san>, one year. The key
# identifiers are explicit: strict verifiers (Python 3.13's default context) require them.
router_tls_new_cert() {
  local dir=$1 san=$2
  router_tls_newkey "$dir/tls.key"
  printf '%s\n' \
    "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" \
    "subjectKeyIdentifier=hash" \
    "authorityKeyIdentifier=keyid" \
    "subjectAltName=$san" >"$dir/tls.ext"
  openssl req -new -sha256 -key "$dir/tls.key" -subj "/O=Sandbank local cluster/CN=$ROUTER_TLS_SERVICE" \
    -out "$dir/tls.csr" 2>/dev/null || die "openssl could not make the router's request in $dir"
  openssl x509 -req -sha256 -in "$dir/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 365 -extfile "$dir/tls.ext" -out "$dir/tls.crt" 2>/dev/null ||
    die "openssl could not make the router certificate in $dir"
  rm -f "$dir/tls.csr" "$dir/tls.ext" "$dir/ca.srl"
  printf '%s\n' "$san" >"$dir/tls.san"
}
