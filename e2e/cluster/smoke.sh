#!/usr/bin/env bash
# Smoke test of a running local cluster (cluster-up.sh): a runc pod and a gVisor pod, exec, logs,
# port-forward, a ClusterIP Service from the host and from another pod, NetworkPolicy (egress
# deny on the gVisor pod, ingress admitted only from a labelled peer), pod create -> Ready times,
# idle memory, and network safety tested by sending packets: a pod given a default route pings a
# TEST-NET address (RFC 5737, routed out through this machine's default route) and a ClusterIP no
# Service has, and nft counters show the packets reached forwarding, were dropped by the network
# guard (lib/netguard.sh) and that no pod packet left through another link during the whole run,
# also with ACCEPT rules put first in filter and mangle FORWARD as a daemon's resync could.
# Everything in namespace sandbank-smoke, deleted at the end, with the smoke's own nft table and
# FORWARD rules; the cluster stays. Only loopback, pod IPs, ClusterIPs of this cluster and (a
# handful of pings that never leave the machine) one TEST-NET address are contacted.
# Usage: smoke.sh <state-dir>          Exit: 0 when every check passed.
# shellcheck disable=SC2317 # functions run through check/retry/expect ("$@"): shellcheck cannot follow
. "$(dirname "$0")/lib/common.sh"
. "$CLUSTER_DIR/lib/whole-cluster.sh"
set +e

state_dir_arg "$@"
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

# --- network watch: counters of our own, independent of the guard they check -----------------
# uplink: the link of the default route, the way out of this machine
default_route=$(ip -4 -o route show default)
UPLINK=$(awk '{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }}' <<<"$default_route")
[ -n "$UPLINK" ] || die "no default route: nothing could leave this machine, and the guard cannot be tested"
# A TEST-NET address (RFC 5737, never a real host) that this machine would send out through its
# default route: the only route matching it must be the default (not a connected network: some
# machines live in TEST-NET-1 themselves).
LEAK_ADDR=""
for a in 198.51.100.1 203.0.113.1; do
  m=$(ip -4 -o route show match "$a") || continue
  case $m in "default "*"dev $UPLINK"*) [ "$(wc -l <<<"$m")" = 1 ] && { LEAK_ADDR=$a; break; } ;; esac
done
[ -n "$LEAK_ADDR" ] || die "neither 198.51.100.1 nor 203.0.113.1 is routed only by the default route: cannot test the guard"
WATCH_TABLE=sandbank-smoke
# forward, before the guard (-300): packets from pods to the two probe addresses, counted on
# their way out; postrouting, after everything: what actually leaves through a link that is not
# the cluster's own, with a pod or Service-range address (also masqueraded: conntrack's original
# source) or coming from the pod bridge, each packet counted once. This table only counts: its
# accepts end its own chains and decide nothing for the other tables.
watch_ruleset() {
  cat <<EOF
table inet $WATCH_TABLE {
  counter toward_uplink {}
  counter toward_sink {}
  counter sunk {}
  counter left {}
  chain forward {
    type filter hook forward priority -400; policy accept;
    ip saddr $POD_CIDR ip daddr $LEAK_ADDR oifname "$UPLINK" counter name toward_uplink
    ip saddr $POD_CIDR ip daddr $SVC_PROBE oifname "$SVC_SINK" counter name toward_sink
  }
  chain postrouting {
    type filter hook postrouting priority 400; policy accept;
    ip daddr $SVC_PROBE oifname "$SVC_SINK" counter name sunk
    oifname { "$CNI_BRIDGE", "$SVC_SINK", "lo" } accept
    ip saddr $POD_CIDR counter name left accept
    ip daddr { $POD_CIDR, $SERVICE_CIDR } counter name left accept
    ct original ip saddr $POD_CIDR counter name left accept
    iifname "$CNI_BRIDGE" counter name left accept
  }
}
EOF
}
watch_packets() { nft_counter_packets inet "$WATCH_TABLE" "$1"; }
# ACCEPT rules the smoke puts first in filter and mangle FORWARD (only for its probe addresses)
ACCEPT_COMMENT="sandbank-smoke: an accept first in FORWARD, as a daemon's resync could put it"
accept_rules() { # <-I|-D>
  local t d
  for t in filter mangle; do
    for d in "$LEAK_ADDR" "$SVC_PROBE"; do
      [ -n "$d" ] || continue
      if [ "$1" = -I ]; then
        iptables -t "$t" -I FORWARD 1 -s "$POD_CIDR" -d "$d/32" -m comment --comment "$ACCEPT_COMMENT" -j ACCEPT || return 1
      else
        while iptables -t "$t" -D FORWARD -s "$POD_CIDR" -d "$d/32" -m comment --comment "$ACCEPT_COMMENT" -j ACCEPT 2>/dev/null; do :; done
      fi
    done
  done
}
watch_down() {
  accept_rules -D
  if [ "$(nft_table_state inet "$WATCH_TABLE")" = present ]; then nft delete table inet "$WATCH_TABLE"; fi
}
SVC_PROBE=""
trap watch_down EXIT

"$KUBECTL" delete namespace "$NS" --ignore-not-found --wait=true >/dev/null 2>&1
"$KUBECTL" create namespace "$NS" >/dev/null
until k get serviceaccount default >/dev/null 2>&1; do sleep 0.2; done

# A ClusterIP no Service has: kube-proxy leaves it alone, the route sends it to the sink.
used_ips=" $("$KUBECTL" get services -A -o jsonpath='{.items[*].spec.clusterIP}') "
for i in 254 253 252 251 250; do
  case $used_ips in *" 10.96.255.$i "*) ;; *) SVC_PROBE=10.96.255.$i; break ;; esac
done
[ -n "$SVC_PROBE" ] || die "10.96.255.250-254 are all in use: no free ClusterIP to probe the sink with"
watch_down
watch_ruleset | nft -f - || die "could not add the smoke's nft table $WATCH_TABLE"
log "network watch: uplink $UPLINK, TEST-NET probe $LEAK_ADDR, unused ClusterIP $SVC_PROBE (nft table inet $WATCH_TABLE)"

# pod <name> <runc|gvisor> <labels-json> [command] [container-fields]: busybox httpd on 8080
# serving /www
pod() {
  local name=$1 rt=$2 labels=$3 cmd=${4:-'exec httpd -f -p 8080 -h /www'} extra=${5:-}
  local rc=""
  [ "$rt" = gvisor ] && rc='"runtimeClassName": "gvisor",'
  cat <<EOF
{"apiVersion": "v1", "kind": "Pod",
 "metadata": {"name": "$name", "labels": $labels},
 "spec": {$rc "terminationGracePeriodSeconds": 1, "automountServiceAccountToken": false,
   "containers": [{"name": "c", "image": "$BUSYBOX_IMAGE", "imagePullPolicy": "Never", $extra
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
# the pod that tries to send packets out (section 8): NET_ADMIN to give itself a default route
pod leak-probe runc '{"app": "leak-probe"}' 'exec httpd -f -p 8080 -h /www' \
  '"securityContext": {"capabilities": {"add": ["NET_ADMIN"]}},' | k apply -f - >/dev/null
check "5 pods Running and Ready" k wait --for=condition=Ready pod/bb-runc pod/bb-gvisor pod/np-target pod/np-router pod/leak-probe --timeout=90s
log "     (5 pods Ready $(secs "$t" "$(now)") s after apply)"
k get pods -o wide >&2

# --- 2. gVisor ---------------------------------------------------------------------------------
version=$(k exec bb-gvisor -- cat /proc/version)
log "     gVisor /proc/version: $version"
# Debian's 2022 runsc says "Linux version 4.4.0 …", the runsc built from the module "… 4.19.0-gvisor …"
check "gVisor pod: /proc/version is gVisor's" grep -qE 'Linux version (4\.4\.0 |[0-9.]+-gvisor)' <<<"$version"
dmesg_all=$(k exec bb-gvisor -- dmesg)
dmesg_first=${dmesg_all%%$'\n'*}
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
host_get() { [ "$(curl -s -m 3 "http://$1/index.html")" = hello-from-pod ]; }
check "host -> ClusterIP $CIP:80 -> gVisor pod" retry 20 host_get "$CIP"
# probe <from-pod> <ip> <port> [expected reply]: one request with busybox nc (3 s connect
# timeout) from inside a pod; prints what happened:
#   open         the reply holds the expected text (default: our page, hello-from-pod)
#   refused      "Connection refused" (a REJECT, kube-router's answer to a denied connection)
#   timeout      no answer to the connect within 3 s (a DROP)
#   unreachable  "Network is unreachable" (no route)
#   broken: …    anything that says nothing about the network: kubectl exec failed, nc or sh
#                missing, an unexpected reply. Never counts as blocked.
probe() {
  local out rc want=${4:-hello-from-pod}
  out=$(k exec "$1" -- sh -c "printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc -w 3 $2 $3 2>&1; echo nc-exit=\$?" 2>&1)
  rc=$?
  if [ "$rc" != 0 ]; then echo "broken: kubectl exec exited $rc: ${out//$'\n'/ }"; return; fi
  case $out in
    *"$want"*nc-exit=*) echo open ;;
    *"Connection refused"*nc-exit=1*) echo refused ;;
    *"nc: timed out"*nc-exit=1*) echo timeout ;;
    *"Network is unreachable"*nc-exit=1*) echo unreachable ;;
    *) echo "broken: ${out//$'\n'/ }" ;;
  esac
}
# expect <open|refused|timeout|unreachable> <from-pod> <ip> <port> [seconds] [expected reply]:
# probes until the answer is the expected one (policies and endpoints take a moment), and on a
# timeout logs the last answer.
expect() {
  local want=$1 from=$2 ip=$3 port=$4 deadline=$((SECONDS + ${5:-10})) got
  while :; do
    got=$(probe "$from" "$ip" "$port" "${6:-}")
    [ "$got" = "$want" ] && return 0
    if [ "$SECONDS" -ge "$deadline" ]; then log "     $from -> $ip:$port: $got (expected $want)"; return 1; fi
    sleep 0.5
  done
}
check "runc pod -> ClusterIP $CIP:80 -> gVisor pod" expect open bb-runc "$CIP" 80
# TLS handshake bytes are enough: the apiserver answers a plain-HTTP request with a 400
check "gVisor pod -> kubernetes Service 10.96.0.1:443 -> apiserver on the node IP" \
  expect open bb-gvisor 10.96.0.1 443 10 "400 Bad Request"

# --- 5. NetworkPolicy (kube-router) ------------------------------------------------------------
TARGET_IP=$(k get pod np-target -o jsonpath='{.status.podIP}')
GV_IP=$(k get pod bb-gvisor -o jsonpath='{.status.podIP}')
check "before policies: gVisor pod -> np-target pod ($TARGET_IP:8080)" expect open bb-gvisor "$TARGET_IP" 8080
check "before policies: runc pod -> gVisor pod ($GV_IP:8080)" expect open bb-runc "$GV_IP" 8080
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
# Each "refused" below comes after the same probe from the same pod succeeded against a target
# the policy allows, so a refusal is the policy's and not a broken probe.
check "egress deny: the probe works in the gVisor pod (its own httpd on 127.0.0.1:8080)" \
  expect open bb-gvisor 127.0.0.1 8080
check "egress deny: gVisor pod -> np-target pod is refused" expect refused bb-gvisor "$TARGET_IP" 8080 20
check "ingress: the role=router pod -> gVisor pod still connects" expect open np-router "$GV_IP" 8080
check "other pods unaffected: runc pod -> np-target" expect open bb-runc "$TARGET_IP" 8080
check "ingress: an unlabelled pod -> gVisor pod is refused" expect refused bb-runc "$GV_IP" 8080
check "the node still reaches the gVisor pod (readiness probe)" k wait --for=condition=Ready pod/bb-gvisor --timeout=5s

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

# --- 8. network safety: no pod packet leaves the machine -----------------------------------------
check "network safety: the guard (nft table $NETGUARD_FAMILY $NETGUARD_TABLE) is in place" netguard_check
bridge_addr=$(ip -4 -o addr show dev "$CNI_BRIDGE")
GW=$(awk '{split($4, a, "/"); print a[1]; exit}' <<<"$bridge_addr")
route_out=$(k exec leak-probe -- ip route replace default via "$GW" 2>&1)
has_default_route() { [[ "$(k exec leak-probe -- ip route show default)" == "default via $GW "* ]]; }
check "network safety: the leak-probe pod has a default route via $GW ($CNI_BRIDGE) ${route_out:+($route_out)}" \
  has_default_route
delta() { echo $(($2 - $1)); }
# pings <count> <addr>: from the leak-probe pod; succeeds when all were sent (no reply expected)
pings() {
  local out
  out=$(k exec leak-probe -- ping -c "$1" -W 1 "$2" 2>&1)
  [[ $out == *"$1 packets transmitted, 0 packets received"* ]] && return 0
  log "     ping -c $1 $2 in leak-probe: ${out//$'\n'/ | }"
  return 1
}
# leak_round <label>: 3 pings to the TEST-NET address (the pod's default route sends them to this
# machine, whose default route would send them out) and 2 to the unused ClusterIP (routed to the
# sink); the watch counts them on their way out, the guard must drop them all, nothing may leave.
leak_round() {
  local what=$1 up0 sink0 drop0 left0 up1 sink1 drop1 left1
  up0=$(watch_packets toward_uplink); sink0=$(watch_packets toward_sink)
  drop0=$(netguard_packets pods_out); left0=$(watch_packets left)
  check "$what: 3 pings from a pod to $LEAK_ADDR sent (and none answered)" pings 3 "$LEAK_ADDR"
  check "$what: 2 pings from a pod to the unused ClusterIP $SVC_PROBE sent" pings 2 "$SVC_PROBE"
  up1=$(watch_packets toward_uplink); sink1=$(watch_packets toward_sink)
  drop1=$(netguard_packets pods_out); left1=$(watch_packets left)
  log "     counted: toward $UPLINK $(delta "$up0" "$up1"), toward $SVC_SINK $(delta "$sink0" "$sink1"), dropped by the guard $(delta "$drop0" "$drop1"), left the machine $(delta "$left0" "$left1")"
  check "$what: the 3 reached forwarding on their way out through $UPLINK" [ "$(delta "$up0" "$up1")" = 3 ]
  check "$what: the 2 reached forwarding on their way to $SVC_SINK" [ "$(delta "$sink0" "$sink1")" = 2 ]
  check "$what: the guard dropped them" [ "$(delta "$drop0" "$drop1")" -ge 5 ]
  check "$what: no pod packet left the machine" [ "$(delta "$left0" "$left1")" = 0 ]
}
leak_round "network safety"
# What a resync of kube-proxy or kube-router could do at worst to the chains they share: put an
# accept for this very traffic first in filter and mangle FORWARD. The guard must not care.
if accept_rules -I; then
  leak_round "network safety, ACCEPT first in filter and mangle FORWARD"
else
  fail "network safety: could not put the ACCEPT rules into FORWARD"
fi
accept_rules -D
# The host itself: a packet to a ClusterIP no Service has goes to the sink, not out.
sunk0=$(watch_packets sunk); left0=$(watch_packets left)
send_udp() { echo smoke >"/dev/udp/$1/$2"; }
check "network safety: the host sends one UDP datagram to $SVC_PROBE" send_udp "$SVC_PROBE" 9
check "network safety: ... it went to $SVC_SINK" [ "$(delta "$sunk0" "$(watch_packets sunk)")" = 1 ]
check "network safety: ... and not out of the machine" [ "$(delta "$left0" "$(watch_packets left)")" = 0 ]
check "network safety: no pod packet left the machine during the whole smoke run" [ "$(watch_packets left)" = 0 ]
log "     guard counters (packets dropped since up): pods_out $(netguard_packets pods_out), into_pods $(netguard_packets into_pods), ranges_out $(netguard_packets ranges_out)"

# --- cleanup -----------------------------------------------------------------------------------
"$KUBECTL" delete namespace "$NS" --wait=true --timeout=60s >/dev/null 2>&1 || fail "namespace $NS not deleted"
if [ "$failures" = 0 ]; then log "smoke: all checks passed in $(secs "$T0" "$(now)") s"; exit 0; fi
log "smoke: $failures check(s) failed"
exit 1
