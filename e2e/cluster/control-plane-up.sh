#!/usr/bin/env bash
# Starts a real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and kwok (fakes one Node, kwok-node-0, and makes pods on it Running), all as
# plain background processes of this user, everything (PKI, logs, PIDs, etcd data) under <state-dir>.
# Usage: control-plane-up.sh <state-dir>      then: export KUBECONFIG=<state-dir>/kubeconfig
# Env:   SANDBANK_CP_WATCH_PID=<pid>  also run control-plane-down.sh once that process is gone
#                                     (so a killed test run leaves nothing behind)
# Stdout: one word, "started" or "already-up" (progress goes to stderr).
# Stop:  control-plane-down.sh <state-dir>
. "$(dirname "$0")/lib/common.sh"
. "$CLUSTER_DIR/lib/control-plane.sh"

[ $# -eq 1 ] || die "usage: $0 <state-dir>"
STATE=$(abs_dir "$1")
T0=$EPOCHREALTIME
elapsed() { awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }'; }

for b in "$ETCD_BIN" "$K8S_BIN/kube-apiserver" "$K8S_BIN/kube-controller-manager" "$K8S_BIN/kube-scheduler" \
  "$KUBECTL" "$KWOK_DIR/bin/kwok"; do
  [ -x "$b" ] || die "missing $b: run 'make cluster-build' (or e2e/cluster/build-control-plane.sh) first"
  # build-control-plane.sh writes the stamp last; without it the build of that part was interrupted.
  [ -f "$(dirname "$(dirname "$b")")/.built" ] || die "the build of $b was interrupted: run 'make cluster-build'"
done
command -v openssl >/dev/null || die "openssl is required (apt-get install openssl)"

kc() { "$KUBECTL" --kubeconfig="$STATE/kubeconfig" "$@"; }

# --- already up? -------------------------------------------------------------------------------
if [ -f "$STATE/$CP_MARKER" ]; then
  all_alive=1
  for c in $CP_COMPONENTS; do pid_alive "$(recorded_pid "$STATE" "$c")" || all_alive=0; done
  if [ "$all_alive" = 1 ] && kc get --raw /readyz >/dev/null 2>&1; then
    log "control plane in $STATE is already up"
    log "export KUBECONFIG=$STATE/kubeconfig"
    echo already-up
    exit 0
  fi
  log "$STATE holds a stopped or partial control plane: stopping what is left, starting afresh"
  stop_all "$STATE"
  rm -rf "$STATE"
elif [ -e "$STATE" ] && [ -n "$(ls -A "$STATE")" ]; then
  die "$STATE exists, is not empty and is not a control-plane state dir (no $CP_MARKER); pick another"
fi

mkdir -p "$STATE"/{pki,logs,pids,etcd}
chmod 700 "$STATE" "$STATE/etcd"
printf 'etcd %s\nkubernetes %s\nkwok %s\n' "$ETCD_VERSION" "$KUBERNETES_VERSION" "$KWOK_VERSION" >"$STATE/$CP_MARKER"

# On any failure: say where the logs are and stop whatever was started (the state dir stays, so
# the logs can be read; the next up or down on it cleans it).
on_exit() {
  local rc=$?
  [ "$rc" = 0 ] && return
  local c pid
  for c in $CP_COMPONENTS; do
    pid=$(recorded_pid "$STATE" "$c")
    if [ -n "$pid" ] && ! pid_alive "$pid"; then
      log "$c exited; last lines of $STATE/logs/$c.log:"
      tail -n 15 "$STATE/logs/$c.log" >&2 || true
    fi
  done
  log "control plane failed to come up after $(elapsed); logs: $STATE/logs; stopping what was started"
  stop_all "$STATE"
}
trap on_exit EXIT

# --- certificates ------------------------------------------------------------------------------
log "[1/8] certificates (openssl, P-256 keys) in $STATE/pki"
PKI=$STATE/pki
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
# newca <name> <cn>
newca() {
  newkey "$PKI/$1.key"
  openssl req -x509 -new -key "$PKI/$1.key" -subj "/CN=$2" -days 3650 -out "$PKI/$1.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,digitalSignature,keyCertSign" 2>/dev/null
}
# newcert <ca> <name> <subject> <extendedKeyUsage> [subjectAltName]
newcert() {
  local ca=$1 n=$2 subj=$3 eku=$4 san=${5:-}
  newkey "$PKI/$n.key"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [ -z "$san" ] || echo "subjectAltName=$san"
  } >"$PKI/$n.ext"
  openssl req -new -key "$PKI/$n.key" -subj "$subj" 2>/dev/null |
    openssl x509 -req -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" -CAcreateserial -days 365 \
      -extfile "$PKI/$n.ext" -out "$PKI/$n.crt" 2>/dev/null
  rm -f "$PKI/$n.ext"
}
newca ca sandbank-ca
newcert ca apiserver /CN=kube-apiserver serverAuth \
  "IP:127.0.0.1,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
newcert ca admin /O=system:masters/CN=sandbank-admin clientAuth
newcert ca controller-manager /CN=system:kube-controller-manager clientAuth
newcert ca scheduler /CN=system:kube-scheduler clientAuth
newcert ca kwok /O=system:masters/CN=kwok clientAuth
# Front proxy (aggregation layer): with it the controller-manager and scheduler find the
# requestheader CA in kube-system/extension-apiserver-authentication and stop logging errors.
newca front-proxy-ca sandbank-front-proxy-ca
newcert front-proxy-ca front-proxy-client /CN=front-proxy-client clientAuth
newkey "$PKI/sa.key"
openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
chmod 600 "$PKI"/*.key

# --- ports -------------------------------------------------------------------------------------
log "[2/8] free loopback ports"
# Ask the kernel for all ports at once (sockets held open together, so no duplicates).
free_ports() {
  if command -v python3 >/dev/null; then
    python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
  else
    node -e '
const net = require("net"); const n = +process.argv[1]; const ports = [];
const next = () => { if (ports.length === n) { console.log(ports.map((s) => s.address().port).join(" ")); ports.forEach((s) => s.close()); return; }
  const s = net.createServer().listen(0, "127.0.0.1", () => { ports.push(s); next(); }); };
next();' "$1"
  fi
}
read -r ETCD_CLIENT_PORT ETCD_PEER_PORT APISERVER_PORT KCM_PORT SCHEDULER_PORT <<<"$(free_ports 5)"
[ -n "$SCHEDULER_PORT" ] || die "could not get free ports (needs python3 or node)"
cat >"$STATE/ports.env" <<EOF
ETCD_CLIENT_PORT=$ETCD_CLIENT_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
APISERVER_PORT=$APISERVER_PORT
KUBE_CONTROLLER_MANAGER_PORT=$KCM_PORT
KUBE_SCHEDULER_PORT=$SCHEDULER_PORT
EOF
log "  etcd $ETCD_CLIENT_PORT (peer $ETCD_PEER_PORT), kube-apiserver $APISERVER_PORT," \
  "kube-controller-manager $KCM_PORT, kube-scheduler $SCHEDULER_PORT"
SERVER=https://127.0.0.1:$APISERVER_PORT

# --- kubeconfigs -------------------------------------------------------------------------------
log "[3/8] kubeconfigs"
b64() { base64 -w0 <"$1"; }
# kubeconfig <file> <cert-name>: certificates embedded, so the file stands alone.
kubeconfig() {
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sandbank
  cluster:
    server: $SERVER
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(b64 "$PKI/$2.crt")
    client-key-data: $(b64 "$PKI/$2.key")
contexts:
- name: sandbank
  context: { cluster: sandbank, user: $2 }
current-context: sandbank
EOF
  chmod 600 "$1"
}
kubeconfig "$STATE/kubeconfig" admin
for c in controller-manager scheduler kwok; do kubeconfig "$STATE/kubeconfig.$c" "$c"; done

# --- kwok stages (rendered once per kwok version into the cache) -------------------------------
STAGES=$KWOK_DIR/stages.yaml
if [ ! -s "$STAGES" ]; then
  log "[4/8] rendering kwok stages (node/fast, node/heartbeat-with-lease, pod/fast) into $STAGES"
  tmp=$(mktemp "$STAGES.XXXXXX")
  for s in node/fast node/heartbeat-with-lease pod/fast; do
    echo "---"
    "$KUBECTL" kustomize "$KWOK_DIR/stages/stage/$s"
  done >"$tmp"
  mv -f "$tmp" "$STAGES"
else
  log "[4/8] kwok stages: cached ($STAGES)"
fi

# --- processes ---------------------------------------------------------------------------------
# start <name> <command...>: in the background, stdio to logs/<name>.log, PID to pids/<name>.pid.
start() {
  local name=$1; shift
  "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/pids/$name.pid"
  log "  $name: pid $!, log $STATE/logs/$name.log"
}
# Fails (with the log tail, via on_exit) as soon as a started component has exited.
check_alive() {
  local c pid
  for c in $CP_COMPONENTS; do
    pid=$(recorded_pid "$STATE" "$c")
    [ -z "$pid" ] || pid_alive "$pid" || die "$c (pid $pid) exited"
  done
}
# wait_until <what> <timeout-s> <command...>
wait_until() {
  local what=$1 deadline=$((SECONDS + $2)); shift 2
  until "$@" >/dev/null 2>&1; do
    check_alive
    [ "$SECONDS" -lt "$deadline" ] || die "timed out waiting for $what"
    sleep 0.1
  done
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

log "[5/8] etcd $ETCD_VERSION"
start etcd "$ETCD_BIN" --name=sandbank --data-dir="$STATE/etcd" \
  --listen-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --advertise-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="sandbank=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state=new \
  --quota-backend-bytes=2147483648 --log-level=warn
wait_until "etcd to listen on 127.0.0.1:$ETCD_CLIENT_PORT" 30 port_open "$ETCD_CLIENT_PORT"

log "[6/8] kube-apiserver $KUBERNETES_VERSION on $SERVER"
# --endpoint-reconciler-type=none: the `kubernetes` Service gets no endpoints, since a loopback
# address is invalid in Endpoints (the apiserver would log that every 10 s); nothing runs in a
# pod network here to use them anyway.
start kube-apiserver "$K8S_BIN/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --bind-address=127.0.0.1 --secure-port="$APISERVER_PORT" --advertise-address=127.0.0.1 \
  --service-cluster-ip-range=10.96.0.0/16 --authorization-mode=RBAC --allow-privileged=true \
  --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
  --endpoint-reconciler-type=none --enable-bootstrap-token-auth=false --profiling=false
wait_until "kube-apiserver /readyz" 90 kc get --raw /readyz
log "  /readyz ok after $(elapsed)"

# The node exists (with its allocatable) before kwok starts, so kwok keeps those figures.
log "[7/8] Node kwok-node-0, kube-controller-manager, kube-scheduler, kwok $KWOK_VERSION"
kc create -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/hostname: kwok-node-0
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
EOF
kc patch node kwok-node-0 --subresource=status --type=merge >/dev/null -p \
  '{"status":{"allocatable":{"cpu":"64","memory":"256Gi","pods":"1000"},"capacity":{"cpu":"64","memory":"256Gi","pods":"1000"}}}'

start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
  --kubeconfig="$STATE/kubeconfig.controller-manager" \
  --authentication-kubeconfig="$STATE/kubeconfig.controller-manager" \
  --authorization-kubeconfig="$STATE/kubeconfig.controller-manager" \
  --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --leader-elect=false --controllers='*' \
  --use-service-account-credentials=true --service-cluster-ip-range=10.96.0.0/16 \
  --root-ca-file="$PKI/ca.crt" --service-account-private-key-file="$PKI/sa.key" \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" --profiling=false
start kube-scheduler "$K8S_BIN/kube-scheduler" \
  --kubeconfig="$STATE/kubeconfig.scheduler" \
  --authentication-kubeconfig="$STATE/kubeconfig.scheduler" \
  --authorization-kubeconfig="$STATE/kubeconfig.scheduler" \
  --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --leader-elect=false --profiling=false
start kwok "$KWOK_DIR/bin/kwok" --kubeconfig="$STATE/kubeconfig.kwok" --config="$STAGES" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --node-lease-duration-seconds=40 --cidr=10.244.0.0/16 --node-ip=127.0.0.1

log "[8/8] waiting for the default ServiceAccount and for kwok-node-0 to be Ready"
wait_until "ServiceAccount default/default (kube-controller-manager)" 60 kc -n default get serviceaccount default
wait_until "Node kwok-node-0 Ready (kwok)" 60 \
  kc wait --for=condition=Ready node/kwok-node-0 --timeout=1s
check_alive

if [ -n "${SANDBANK_CP_WATCH_PID:-}" ]; then
  SANDBANK_CP_IS_WATCHDOG=1 bash "$CLUSTER_DIR/lib/watchdog.sh" "$STATE" "$SANDBANK_CP_WATCH_PID" \
    >"$STATE/logs/watchdog.log" 2>&1 </dev/null &
  echo $! >"$STATE/pids/watchdog.pid"
  log "  watchdog (pid $!) stops this control plane when pid $SANDBANK_CP_WATCH_PID exits"
fi

trap - EXIT
log "control plane up in $(elapsed): $SERVER"
log "export KUBECONFIG=$STATE/kubeconfig"
echo started
