#!/usr/bin/env bash
# Starts a real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and kwok (fakes one Node, kwok-node-0, and makes pods on it Running), all as
# plain background processes of this user, everything (PKI, logs, PIDs, etcd data) under <state-dir>.
# Usage: control-plane-up.sh <state-dir>      then: export KUBECONFIG=<state-dir>/kubeconfig
# Env:   SANDBANK_CP_WATCH_PID=<pid>  also run control-plane-down.sh once that process is gone
#                                     (so a killed test run leaves nothing behind)
#        SANDBANK_CP_NODE_IP=<ip>     for a real node (cluster-up.sh): the apiserver serves and
#                                     advertises on <ip> (this machine's own address, which pods
#                                     reach through the `kubernetes` Service), Node+RBAC
#                                     authorization, a client certificate for kubelets, node CIDRs
#                                     allocated from 10.244.0.0/16; kubeconfigs point at <ip>
#        SANDBANK_CP_KWOK=0           no kwok and no fake Node (a real kubelet joins instead)
#        SANDBANK_CP_APISERVER_PORT=<port>  a fixed apiserver port instead of a free one
#                                     (cluster-up.sh: 6443, which NetworkPolicies admit)
# Stdout: one word, "started" or "already-up" (progress goes to stderr).
# Stop:  control-plane-down.sh <state-dir>
. "$(dirname "$0")/lib/common.sh"
. "$CLUSTER_DIR/lib/control-plane.sh"

[ $# -eq 1 ] || die "usage: $0 <state-dir>"
STATE=$(abs_dir "$1")
NODE_IP=${SANDBANK_CP_NODE_IP:-}
WITH_KWOK=${SANDBANK_CP_KWOK:-1}
T0=$EPOCHREALTIME

for b in "$ETCD_BIN" "$K8S_BIN/kube-apiserver" "$K8S_BIN/kube-controller-manager" "$K8S_BIN/kube-scheduler" \
  "$KUBECTL" $([ "$WITH_KWOK" = 0 ] || echo "$KWOK_DIR/bin/kwok"); do
  [ -x "$b" ] || die "missing $b: run 'make cluster-build' (or e2e/cluster/build-control-plane.sh) first"
  # build-control-plane.sh writes the stamp last; without it the build of that part was interrupted.
  [ -f "$(dirname "$(dirname "$b")")/.built" ] || die "the build of $b was interrupted: run 'make cluster-build'"
done
command -v openssl >/dev/null || die "openssl is required (apt-get install openssl)"

kc() { "$KUBECTL" --kubeconfig="$STATE/kubeconfig" "$@"; }

# --- already up? -------------------------------------------------------------------------------
if [ -f "$STATE/$CP_MARKER" ]; then
  all_alive=1
  for c in $(cp_components "$STATE"); do pid_alive "$(recorded_pid "$STATE" "$c")" || all_alive=0; done
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
[ "$WITH_KWOK" != 0 ] || touch "$STATE/no-kwok"
[ -z "$NODE_IP" ] || echo "$NODE_IP" >"$STATE/node-ip"
# shellcheck disable=SC2034 # read by check_alive (lib/control-plane.sh)
ALIVE_COMPONENTS=$(cp_components "$STATE")
ADDR=${NODE_IP:-127.0.0.1}

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
  log "control plane failed to come up after $(since "$T0"); logs: $STATE/logs; stopping what was started"
  stop_all "$STATE"
}
trap on_exit EXIT

# --- certificates ------------------------------------------------------------------------------
log "[1/8] certificates (openssl, P-256 keys) in $STATE/pki"
PKI=$STATE/pki
newca ca sandbank-ca
newcert ca apiserver /CN=kube-apiserver serverAuth \
  "${NODE_IP:+IP:$NODE_IP,}IP:127.0.0.1,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
newcert ca admin /O=system:masters/CN=sandbank-admin clientAuth
newcert ca controller-manager /CN=system:kube-controller-manager clientAuth
newcert ca scheduler /CN=system:kube-scheduler clientAuth
[ "$WITH_KWOK" = 0 ] || newcert ca kwok /O=system:masters/CN=kwok clientAuth
# The apiserver's client certificate towards kubelets (exec, logs, port-forward).
[ -z "$NODE_IP" ] || newcert ca apiserver-kubelet-client /O=system:masters/CN=kube-apiserver-kubelet-client clientAuth
# Front proxy (aggregation layer): with it the controller-manager and scheduler find the
# requestheader CA in kube-system/extension-apiserver-authentication and stop logging errors.
newca front-proxy-ca sandbank-front-proxy-ca
newcert front-proxy-ca front-proxy-client /CN=front-proxy-client clientAuth
newkey "$PKI/sa.key"
openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
chmod 600 "$PKI"/*.key

# --- ports -------------------------------------------------------------------------------------
log "[2/8] free ports"
read -r ETCD_CLIENT_PORT ETCD_PEER_PORT APISERVER_PORT KCM_PORT SCHEDULER_PORT <<<"$(free_ports 5)"
[ -n "$SCHEDULER_PORT" ] || die "could not get free ports (needs python3 or node)"
if [ -n "${SANDBANK_CP_APISERVER_PORT:-}" ]; then
  APISERVER_PORT=$SANDBANK_CP_APISERVER_PORT
  ! port_in_use "$APISERVER_PORT" || die "port $APISERVER_PORT is taken (another kube-apiserver?): ss -ltnp 'sport = :$APISERVER_PORT'"
fi
cat >"$STATE/ports.env" <<EOF
ETCD_CLIENT_PORT=$ETCD_CLIENT_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
APISERVER_PORT=$APISERVER_PORT
KUBE_CONTROLLER_MANAGER_PORT=$KCM_PORT
KUBE_SCHEDULER_PORT=$SCHEDULER_PORT
EOF
log "  etcd $ETCD_CLIENT_PORT (peer $ETCD_PEER_PORT), kube-apiserver $APISERVER_PORT," \
  "kube-controller-manager $KCM_PORT, kube-scheduler $SCHEDULER_PORT"
SERVER=https://$ADDR:$APISERVER_PORT

# --- kubeconfigs -------------------------------------------------------------------------------
log "[3/8] kubeconfigs"
kubeconfig "$STATE/kubeconfig" admin
for c in controller-manager scheduler $([ "$WITH_KWOK" = 0 ] || echo kwok); do kubeconfig "$STATE/kubeconfig.$c" "$c"; done

# --- kwok stages (rendered once per kwok version into the cache) -------------------------------
STAGES=$KWOK_DIR/stages.yaml
if [ "$WITH_KWOK" = 0 ]; then
  log "[4/8] kwok: not used (SANDBANK_CP_KWOK=0)"
elif [ ! -s "$STAGES" ]; then
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
if [ -z "$NODE_IP" ]; then
  # --endpoint-reconciler-type=none: the `kubernetes` Service gets no endpoints, since a loopback
  # address is invalid in Endpoints (the apiserver would log that every 10 s); nothing runs in a
  # pod network here to use them anyway.
  mode_flags=(--authorization-mode=RBAC --endpoint-reconciler-type=none)
else
  # A real node: kubelets authenticate as system:node:<name> (Node authorizer + NodeRestriction);
  # the apiserver reaches them by InternalIP (node names do not resolve here) with its own cert.
  # shellcheck disable=SC2054 # "Node,RBAC" is one flag value
  mode_flags=(--authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key"
    --kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP)
fi
start kube-apiserver "$K8S_BIN/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --bind-address="$ADDR" --secure-port="$APISERVER_PORT" --advertise-address="$ADDR" \
  --service-cluster-ip-range=10.96.0.0/16 "${mode_flags[@]}" --allow-privileged=true \
  --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
  --enable-bootstrap-token-auth=false --profiling=false
wait_until "kube-apiserver /readyz" 90 kc get --raw /readyz
log "  /readyz ok after $(since "$T0")"

# The node exists (with its allocatable) before kwok starts, so kwok keeps those figures.
if [ "$WITH_KWOK" = 0 ]; then
  log "[7/8] kube-controller-manager, kube-scheduler"
else
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
  '{"status":{"allocatable":{"cpu":"64","memory":"256Gi","ephemeral-storage":"1Ti","pods":"1000"},"capacity":{"cpu":"64","memory":"256Gi","ephemeral-storage":"1Ti","pods":"1000"}}}'
fi
# A real node gets its podCIDR (10.244.0.0/24 for the first) from the node IPAM controller.
node_cidr_flags=()
[ -z "$NODE_IP" ] || node_cidr_flags=(--allocate-node-cidrs=true --cluster-cidr=10.244.0.0/16 --node-cidr-mask-size=24)

start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
  --kubeconfig="$STATE/kubeconfig.controller-manager" \
  --authentication-kubeconfig="$STATE/kubeconfig.controller-manager" \
  --authorization-kubeconfig="$STATE/kubeconfig.controller-manager" \
  --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --leader-elect=false --controllers='*' \
  --use-service-account-credentials=true --service-cluster-ip-range=10.96.0.0/16 \
  --root-ca-file="$PKI/ca.crt" --service-account-private-key-file="$PKI/sa.key" \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" --profiling=false \
  "${node_cidr_flags[@]}"
start kube-scheduler "$K8S_BIN/kube-scheduler" \
  --kubeconfig="$STATE/kubeconfig.scheduler" \
  --authentication-kubeconfig="$STATE/kubeconfig.scheduler" \
  --authorization-kubeconfig="$STATE/kubeconfig.scheduler" \
  --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --leader-elect=false --profiling=false
[ "$WITH_KWOK" = 0 ] || start kwok "$KWOK_DIR/bin/kwok" --kubeconfig="$STATE/kubeconfig.kwok" --config="$STAGES" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --node-lease-duration-seconds=40 --cidr=10.244.0.0/16 --node-ip=127.0.0.1

log "[8/8] waiting for the default ServiceAccount$([ "$WITH_KWOK" = 0 ] || echo " and for kwok-node-0 to be Ready")"
wait_until "ServiceAccount default/default (kube-controller-manager)" 60 kc -n default get serviceaccount default
[ "$WITH_KWOK" = 0 ] || wait_until "Node kwok-node-0 Ready (kwok)" 60 \
  kc wait --for=condition=Ready node/kwok-node-0 --timeout=1s
check_alive

if [ -n "${SANDBANK_CP_WATCH_PID:-}" ]; then
  SANDBANK_CP_IS_WATCHDOG=1 bash "$CLUSTER_DIR/lib/watchdog.sh" "$STATE" "$SANDBANK_CP_WATCH_PID" \
    >"$STATE/logs/watchdog.log" 2>&1 </dev/null &
  echo $! >"$STATE/pids/watchdog.pid"
  log "  watchdog (pid $!) stops this control plane when pid $SANDBANK_CP_WATCH_PID exits"
fi

trap - EXIT
log "control plane up in $(since "$T0"): $SERVER"
log "export KUBECONFIG=$STATE/kubeconfig"
echo started
