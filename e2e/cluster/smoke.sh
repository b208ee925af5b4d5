#!/usr/bin/env bash
# Smoke test of a running local cluster (cluster-up.sh): a runc pod and a gVisor pod, exec, logs,
# port-forward, a ClusterIP Service from the host and from another pod, NetworkPolicy (egress
# deny on the gVisor pod, ingress admitted only from a labelled peer), pod create -> Ready times
# and idle memory. Everything in namespace sandbank-smoke, deleted at the end; the cluster stays.
# Only loopback, pod IPs and ClusterIPs of this cluster are contacted.
# Usage: smoke.sh <state-dir>          Exit: 0 when every check passed.
. "$(dirname "$0")/lib/common.sh"
. "$CLUSTER_DIR/lib/control-plane.sh"
. "$CLUSTER_DIR/lib/node.sh"
set +e

[ $# -eq 1 ] || die "usage: $0 <state-dir>"
STATE=$(abs_dir "$1")
export KUBECONFIG=$STATE/kubeconfig
[ -f "$KUBECONFIG" ] || die "no cluster in $STATE (run cluster-up.sh first)"
NS=sandbank-smoke
k() { "$KUBECTL" -n "$NS" "$@"; }
T0=$EPOCHREALTIME
failures=0
ok() { log "OK   $*"; }
fail() { log "FAIL $*"; failures=$((failures + 1)); }
check() { # <description> <command...>
  local what=$1; shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}
# retry <seconds> <command...>: until it succeeds (for things that settle: policies, endpoints)
retry() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ "$SECONDS" -lt "$deadline" ] || return 1; sleep 0.5; done
}
now() { echo "$EPOCHREALTIME"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

"$KUBECTL" delete namespace "$NS" --ignore-not-found --wait=true >/dev/null 2>&1
"$KUBECTL" create namespace "$NS" >/dev/null
until k get serviceaccount default >/dev/null 2>&1; do sleep 0.2; done

# pod <name> <runc|gvisor> <labels-json> [command]: busybox httpd on 8080 serving /www
pod() {
  local name=$1 rt=$2 labels=$3 cmd=${4:-'exec httpd -f -p 8080 -h /www'}
  local rc=""
  [ "$rt" = gvisor ] && rc='"runtimeClassName": "gvisor",'
  cat <<EOF
{"apiVersion": "v1", "kind": "Pod",
 "metadata": {"name": "$name", "labels": $labels},
 "spec": {$rc "terminationGracePeriodSeconds": 1, "automountServiceAccountToken": false,
   "containers": [{"name": "c", "image": "$BUSYBOX_IMAGE", "imagePullPolicy": "Never",
     "command": ["sh", "-c", "echo started-in: \$(cat /proc/version); $cmd"],
     "ports": [{"containerPort": 8080}],
     "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}]}}
EOF
}

# --- 1. pods ---------------------------------------------------------------------------------
log "pods: runc and gVisor (RuntimeClass gvisor), busybox httpd"
t=$(now)
pod bb-runc runc '{"app": "bb-runc"}' | k apply -f - >/dev/null
pod bb-gvisor gvisor '{"app": "bb-gvisor"}' | k apply -f - >/dev/null
pod np-target runc '{"app": "np-target"}' | k apply -f - >/dev/null
pod np-router runc '{"app": "np-router", "role": "router"}' | k apply -f - >/dev/null
check "4 pods Running and Ready" k wait --for=condition=Ready pod/bb-runc pod/bb-gvisor pod/np-target pod/np-router --timeout=90s
log "     (4 pods Ready $(secs "$t" "$(now)") s after apply)"
k get pods -o wide >&2

# --- 2. gVisor ---------------------------------------------------------------------------------
version=$(k exec bb-gvisor -- cat /proc/version)
log "     gVisor /proc/version: $version"
# Debian's 2022 runsc says "Linux version 4.4.0 …", the runsc built from the module "… 4.19.0-gvisor …"
check "gVisor pod: /proc/version is gVisor's" grep -qE 'Linux version (4\.4\.0 |[0-9.]+-gvisor)' <<<"$version"
dmesg_first=$(k exec bb-gvisor -- dmesg | head -1)
log "     gVisor dmesg: $dmesg_first"
check "gVisor pod: dmesg starts with 'Starting gVisor'" grep -q 'Starting gVisor' <<<"$dmesg_first"
check "runc pod: /proc/version is the host kernel" grep -q "$(uname -r)" <<<"$(k exec bb-runc -- cat /proc/version)"
check "gVisor pod: hostname is the pod name" [ "$(k exec bb-gvisor -- hostname)" = bb-gvisor ]
check "kubectl exec -i (stdin) into the gVisor pod" [ "$(echo piped | k exec -i bb-gvisor -- cat)" = piped ]
check "kubectl logs of the gVisor pod" grep -qE 'started-in: Linux version (4\.4\.0 |[0-9.]+-gvisor)' <<<"$(k logs bb-gvisor)"

# --- 3. port-forward ---------------------------------------------------------------------------
read -r PF_PORT <<<"$(free_ports 1)"
# kubectl itself in the background (not the k function: $! would be a subshell, and killing it
# would leave kubectl running)
"$KUBECTL" -n "$NS" port-forward pod/bb-gvisor "$PF_PORT:8080" >"$STATE/logs/smoke-port-forward.log" 2>&1 &
pf=$!
retry 10 port_open "$PF_PORT"
check "kubectl port-forward to the gVisor pod (127.0.0.1:$PF_PORT)" \
  [ "$(curl -s -m 5 "http://127.0.0.1:$PF_PORT/index.html")" = hello-from-pod ]
kill "$pf" 2>/dev/null; wait "$pf" 2>/dev/null

# --- 4. ClusterIP Service ----------------------------------------------------------------------
k expose pod bb-gvisor --name=web-gv --port=80 --target-port=8080 >/dev/null
CIP=$(k get svc web-gv -o jsonpath='{.spec.clusterIP}')
http_get() { curl -s -m 3 "http://$1/index.html"; }
check "host -> ClusterIP $CIP:80 -> gVisor pod" retry 20 eval '[ "$(http_get "$CIP")" = hello-from-pod ]'
pod_get() { # <from-pod> <ip> <port>
  k exec "$1" -- sh -c "printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc -w 3 $2 $3" 2>/dev/null | grep -q hello-from-pod
}
check "runc pod -> ClusterIP $CIP:80 -> gVisor pod" retry 10 pod_get bb-runc "$CIP" 80
# TLS handshake bytes are enough: the apiserver answers a plain-HTTP request with a 400
check "gVisor pod -> kubernetes Service 10.96.0.1:443 -> apiserver on the node IP" \
  retry 10 eval 'k exec bb-gvisor -- sh -c "printf \"GET / HTTP/1.0\r\n\r\n\" | nc -w 3 10.96.0.1 443" 2>/dev/null | grep -q "400 Bad Request"'

# --- 5. NetworkPolicy (kube-router) ------------------------------------------------------------
TARGET_IP=$(k get pod np-target -o jsonpath='{.status.podIP}')
GV_IP=$(k get pod bb-gvisor -o jsonpath='{.status.podIP}')
check "before policies: gVisor pod -> np-target pod ($TARGET_IP:8080)" retry 10 pod_get bb-gvisor "$TARGET_IP" 8080
check "before policies: runc pod -> gVisor pod ($GV_IP:8080)" retry 10 pod_get bb-runc "$GV_IP" 8080
k apply -f - >/dev/null <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: sandbox}
spec:
  podSelector: {matchLabels: {app: bb-gvisor}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {role: router}}}]
    ports: [{port: 8080}]
  egress: []
EOF
check "egress deny: gVisor pod -> np-target pod is blocked" retry 20 eval '! pod_get bb-gvisor "$TARGET_IP" 8080'
check "ingress: the role=router pod -> gVisor pod still connects" retry 10 pod_get np-router "$GV_IP" 8080
check "ingress: an unlabelled pod -> gVisor pod is blocked" retry 10 eval '! pod_get bb-runc "$GV_IP" 8080'
check "the node still reaches the gVisor pod (readiness probe)" k wait --for=condition=Ready pod/bb-gvisor --timeout=5s
check "other pods unaffected: runc pod -> np-target" pod_get bb-runc "$TARGET_IP" 8080

# --- 6. idle memory (RSS; gVisor: PSS of its processes) ----------------------------------------
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null; }
pss_tree() { # sum PSS (kB) of processes whose cmdline matches $1
  local p total=0 v
  for p in $(pgrep -f -- "$1"); do
    v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null); total=$((total + ${v:-0}))
  done
  echo "$total"
}
log "     idle memory (VmRSS):"
total=0
for f in "$STATE"/control-plane/pids/*.pid "$STATE"/pids/*.pid; do
  p=$(cat "$f"); r=$(rss "$p"); total=$((total + ${r:-0}))
  log "       $(basename "$f" .pid): $((${r:-0} / 1024)) MB"
done
log "       sum of daemons: $((total / 1024)) MB"
shims=0
for p in $(pgrep -f -- "containerd-shim-runc-v2 .*-address $STATE/containerd/containerd.sock"); do r=$(rss "$p"); shims=$((shims + ${r:-0})); done
log "       containerd-shim-runc-v2 (all pods): $((shims / 1024)) MB RSS"
log "       gVisor (runsc sandbox + gofer, 1 idle gVisor pod): $(($(pss_tree "runsc.*--root[= ]$STATE/runsc-root") / 1024)) MB PSS"

# --- 7. create -> Ready ------------------------------------------------------------------------
# apply -> `kubectl wait` returns (two kubectl starts included); readiness probe 1 s as above.
declare -A ready
for rt in runc gvisor; do
  for i in 1 2 3; do
    t=$(now)
    pod "t-$rt-$i" "$rt" '{"app": "timing"}' | k apply -f - >/dev/null
    k wait --for=condition=Ready "pod/t-$rt-$i" --timeout=60s >/dev/null || fail "t-$rt-$i not Ready"
    ready[$rt]="${ready[$rt]:-} $(secs "$t" "$(now)")"
    k delete pod "t-$rt-$i" --grace-period=0 --force --wait=false >/dev/null 2>&1
  done
  log "     create -> Ready, $rt:${ready[$rt]} s"
done

# --- 8. network safety ---------------------------------------------------------------------------
check "network safety: pod-range drops on top of mangle FORWARD" \
  eval '[ "$(iptables -t mangle -S FORWARD | sed -n 2,3p | grep -c "sandbank: pod traffic")" = 2 ]'
check "network safety: pod-range drops in filter FORWARD" \
  eval '[ "$(iptables -S FORWARD | grep -c "sandbank: pod traffic")" = 2 ]'
check "network safety: the Service range is routed to $SVC_SINK" eval 'ip route get 10.96.200.200 | grep -q "dev $SVC_SINK"'
log "     FORWARD drop counters (packets that tried to leave): $(iptables -t mangle -L FORWARD -v -n | awk '/sandbank/ {printf "%s ", $1}')"

# --- cleanup -----------------------------------------------------------------------------------
"$KUBECTL" delete namespace "$NS" --wait=true --timeout=60s >/dev/null 2>&1 || fail "namespace $NS not deleted"
if [ "$failures" = 0 ]; then log "smoke: all checks passed in $(secs "$T0" "$(now)") s"; exit 0; fi
log "smoke: $failures check(s) failed"
exit 1
