#!/usr/bin/env bash
# Stops the cluster started by cluster-up.sh and leaves the machine as it was: pods deleted
# through the kubelet (CNI DEL, runsc/runc delete), then every recorded process (SIGTERM, SIGKILL
# after a grace period), the network guard (nft table), iptables chains and rules, ipsets, links,
# mounts, cgroup dirs, host paths (/run/containerd, /var/lib/cni, /var/lib/kubelet,
# /var/log/containers, …) that were not there
# before `up`, and the sysctls `up` recorded. The state dir is removed except baseline/ (what the
# machine looked like before `up`, read by verify-clean.sh); KEEP_STATE=1 keeps all of it.
# Usage: cluster-down.sh <state-dir>      A missing or empty state dir is a no-op.
. "$(dirname "$0")/lib/common.sh"
. "$CLUSTER_DIR/lib/control-plane.sh"
. "$CLUSTER_DIR/lib/node.sh"
. "$CLUSTER_DIR/lib/netguard.sh"
set +e # best effort from here on: every step runs even if an earlier one failed

[ $# -eq 1 ] || die "usage: $0 <state-dir>"
STATE=$(abs_dir "$1")
CP=$STATE/control-plane
B=$STATE/baseline
SOCK=$STATE/containerd/containerd.sock
T0=$EPOCHREALTIME
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

if [ ! -d "$STATE" ]; then log "nothing to stop: $STATE does not exist"; exit 0; fi
if [ ! -f "$STATE/$CLUSTER_MARKER" ]; then
  if [ -z "$(find "$STATE" -mindepth 1 -maxdepth 1 ! -name baseline -print -quit)" ]; then log "nothing to stop in $STATE"; exit 0; fi
  die "$STATE is not a cluster state dir (no $CLUSTER_MARKER); refusing to touch it"
fi
[ "$(id -u)" = 0 ] || die "the node needs root to be stopped"
log "stopping the cluster in $STATE"
kc() { "$KUBECTL" --kubeconfig="$CP/kubeconfig" --request-timeout=10s "$@"; }
ctr_() { timeout 20 ctr -a "$SOCK" -n k8s.io "$@"; }
in_baseline() { [ -f "$B/$1" ] && grep -qxF -- "$2" "$B/$1"; }
alive() { pid_alive "$(recorded_pid "$1" "$2")"; }

# --- 1. workloads, while the kubelet and containerd still run (CNI DEL, runsc delete, unmounts) --
if alive "$STATE" kubelet && alive "$STATE" containerd && kc get --raw /readyz >/dev/null 2>&1; then
  log "[1/9] deleting every pod through the kubelet"
  # No controller may recreate them meanwhile, and no new pod may reach the node: controllers
  # that run as pods (Sandbank's refills its warm pools) keep creating pods until they are gone,
  # so the scheduler stops too and what they create stays Pending.
  stop_pid_file "$CP/pids/kube-controller-manager.pid" 15
  stop_pid_file "$CP/pids/kube-scheduler.pid" 15
  # Done when no pod is bound to the node and containerd runs no task: every sandbox was stopped
  # through CRI (network torn down); the kubelet's garbage collection of the stopped ones is not
  # awaited. Deleting again each round removes Pending pods created in between.
  for _ in $(seq 1 120); do
    kc delete pods --all --all-namespaces --grace-period=1 --wait=false >/dev/null 2>&1
    [ -z "$(kc get pods -A -o name --field-selector "spec.nodeName=$NODE_NAME" 2>/dev/null)" ] &&
      [ -z "$(ctr_ tasks ls -q 2>/dev/null)" ] && break
    sleep 0.5
  done
  left=$(ctr_ tasks ls -q 2>/dev/null | wc -l)
  if [ "$left" = 0 ]; then log "  all pods gone"; else log "  $left tasks still running in containerd after 60 s: removing them directly"; fi
else
  log "[1/9] kubelet, containerd or apiserver not running: removing containers directly"
fi
# Whatever is left (a crashed kubelet, a stuck pod): kill and delete through containerd.
if alive "$STATE" containerd; then
  for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$id" >/dev/null 2>&1; done
  sleep 0.5
  for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$id" >/dev/null 2>&1; done
  for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$id" >/dev/null 2>&1; done
fi

# --- 2. node processes, then cleanup of their rules ---------------------------------------------
log "[2/9] stopping kube-router, kube-proxy, kubelet, containerd"
for c in kube-router kube-proxy kubelet; do stop_pid_file "$STATE/pids/$c.pid" 15; done
if [ -x "$KUBE_ROUTER_BIN" ]; then
  "$KUBE_ROUTER_BIN" --cleanup-config >"$STATE/logs/kube-router-cleanup.log" 2>&1 ||
    log "  kube-router --cleanup-config failed (see $STATE/logs/kube-router-cleanup.log); removing its rules below"
fi
if [ -f "$STATE/node/kube-proxy.yaml" ]; then
  "$K8S_BIN/kube-proxy" --cleanup --config="$STATE/node/kube-proxy.yaml" >"$STATE/logs/kube-proxy-cleanup.log" 2>&1
fi
stop_pid_file "$STATE/pids/containerd.pid" 15
# Processes containerd started for us: shims (addressed to our socket) and gVisor sandboxes and
# gofers (state under our runsc root). Ours by command line; stopped by PID.
ours() {
  local p cmd re="-address $SOCK|--root[= ]$STATE/(runsc|runc)-root|$STATE/bin/runsc-cri-wrapper"
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = $$ ] && continue
    cmd=$({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null) || continue
    [[ $cmd =~ $re ]] && echo "$p"
  done
}
# Processes in the pod cgroups (kubepods* did not exist before `up`) are ours too: a container
# whose shim is gone (e.g. created while the node was being stopped) would outlive it.
in_pod_cgroups() {
  local d
  while read -r d; do
    in_baseline cgroups "$d" || find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null
  done < <(find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d -name 'kubepods*' 2>/dev/null)
}
ours_all() { { ours; in_pod_cgroups; } | sort -u; }
pids=$(ours_all)
if [ -n "$pids" ]; then
  log "  stopping leftover shims and sandboxes: ${pids//$'\n'/ }"
  # shellcheck disable=SC2086 # one PID per word
  kill -TERM $pids 2>/dev/null
  for _ in $(seq 1 50); do [ -z "$(ours_all)" ] && break; sleep 0.1; done
  pids=$(ours_all)
  # shellcheck disable=SC2086 # one PID per word
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null
  sleep 0.2
fi

# --- 3. control plane --------------------------------------------------------------------------
log "[3/9] control plane"
if [ -d "$CP" ]; then KEEP_STATE=${KEEP_STATE:-} bash "$CLUSTER_DIR/control-plane-down.sh" "$CP" 2>&1 | sed 's/^/  /' >&2; fi

# --- 4. mounts ---------------------------------------------------------------------------------
log "[4/9] mounts under $STATE (kubelet root bind mount, pod volumes, runsc null-netns, rootfs)"
for _ in 1 2 3; do
  mps=$(awk -v s="$STATE/" 'index($5, s) == 1 || $5 == substr(s, 1, length(s) - 1) { print $5 }' /proc/self/mountinfo | sort -r)
  [ -z "$mps" ] && break
  for m in $mps; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
done
# pod network namespaces containerd did not get to remove (ours: not there before `up`)
for ns in /run/netns/cni-*; do
  [ -e "$ns" ] || continue
  ns=${ns#/run/netns/}
  in_baseline netns "$ns" || { ip netns delete "$ns" 2>/dev/null && log "  removed netns $ns"; }
done

# --- 5. links ----------------------------------------------------------------------------------
log "[5/9] links $CNI_BRIDGE, $SVC_SINK (and the $SERVICE_CIDR route with it)"
for l in $(ip -o link show master "$CNI_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do ip link delete "$l" 2>/dev/null; done
for l in "$CNI_BRIDGE" "$SVC_SINK"; do ip link show "$l" >/dev/null 2>&1 && ip link delete "$l"; done

# --- 6. iptables and ipsets --------------------------------------------------------------------
log "[6/9] network guard, iptables rules and chains, ipsets"
# The network guard (lib/netguard.sh) stays until no pod and no pod link is left.
netguard_down || log "  could not remove the nft table $NETGUARD_FAMILY $NETGUARD_TABLE (verify-clean.sh will list it)"
# FORWARD drops of clusters started before the guard moved to its own nftables table
legacy_forward_drops=("-s $POD_CIDR ! -d $POD_CIDR -j DROP" "-d $POD_CIDR ! -s $POD_CIDR -j DROP")
for t in filter mangle; do
  for r in "${legacy_forward_drops[@]}"; do
    # shellcheck disable=SC2086
    while iptables -t "$t" -D FORWARD $r -m comment --comment "sandbank: pod traffic stays on this machine" 2>/dev/null; do :; done
  done
done
# chains of kubelet (KUBE-FIREWALL, KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT), kube-proxy, kube-router
# (KUBE-ROUTER-*, KUBE-POD-FW-*, KUBE-NWPLCY-*) and CNI that were not there before `up`
clean_chains() { # <iptables|ip6tables>
  local ipt=$1 t chains c
  command -v "$ipt" >/dev/null || return 0
  for t in filter nat mangle raw; do
    chains=$("$ipt" -t "$t" -S 2>/dev/null | awk '/^-N (KUBE-|CNI-)/ {print $2}')
    [ -n "$chains" ] || continue
    local new=""
    for c in $chains; do
      grep -q -- "^:$c " <(sed -n "/^\*$t\$/,/^COMMIT/p" "$B/$ipt" 2>/dev/null) || new="$new $c"
    done
    [ -n "$new" ] || continue
    local alt=${new# }
    alt=${alt// /|}
    # rules anywhere that jump to one of them, then the chains themselves
    "$ipt" -t "$t" -S | grep -E -- "^-A .* -(j|g) ($alt)( |$)" | sed 's/^-A /-D /' |
      while read -r rule; do eval "$ipt -t $t $rule" 2>/dev/null; done
    for c in $new; do "$ipt" -t "$t" -F "$c" 2>/dev/null; done
    for c in $new; do "$ipt" -t "$t" -X "$c" 2>/dev/null; done
  done
}
clean_chains iptables
clean_chains ip6tables
for s in $(ipset list -n 2>/dev/null); do
  case $s in KUBE-* | kube-* | inet6:KUBE-* | inet6:kube-*) in_baseline ipsets "$s" || ipset destroy "$s" 2>/dev/null ;; esac
done

# --- 7. sysctls --------------------------------------------------------------------------------
log "[7/9] sysctls back to the values before up"
if [ -f "$B/sysctl" ]; then
  while IFS='=' read -r k v; do
    [ "$(sysctl -n "$k" 2>/dev/null)" = "$v" ] || { sysctl -qw "$k=$v" && log "  $k = $v"; }
  done <"$B/sysctl"
fi

# --- 8. cgroups and host paths -------------------------------------------------------------------
log "[8/9] cgroup dirs, host paths"
while read -r d; do
  in_baseline cgroups "$d" || find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
done < <(find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d \( -name 'kubepods*' -o -name k8s.io \) 2>/dev/null)
# A containerd that still runs (not ours: ours was stopped in step 2). pid_alive, because pgrep
# also lists a zombie: ours, exited, until its parent reaps it (seen on a loaded machine).
other_containerd() {
  local p
  for p in $(pgrep -x containerd); do pid_alive "$p" && echo "$p"; done
}
for p in $NODE_HOST_PATHS; do
  in_baseline host-paths "$p" && continue
  [ -e "$p" ] || continue
  case $p in
    /run/containerd)
      if [ -n "$(other_containerd)" ]; then
        log "  another containerd runs (pid $(other_containerd | tr '\n' ' ')): /run/containerd left in place"
        rm -rf /run/containerd/runc/k8s.io 2>/dev/null
      else
        rm -rf /run/containerd
      fi ;;
    /run/netns)
      [ -z "$(ls -A /run/netns)" ] && { umount /run/netns 2>/dev/null; rmdir /run/netns; } ;;
    *) rm -rf "$p" ;;
  esac
done
# paths that existed before: remove only what is ours in them
if in_baseline host-paths /var/log/containers; then find /var/log/containers -maxdepth 1 -type l -lname "$STATE/*" -delete; fi
if in_baseline host-paths /var/lib/cni; then rm -f /var/lib/cni/results/"$CNI_NETWORK"-*; fi
if in_baseline host-paths /var/lib/kubelet; then rm -f /var/lib/kubelet/device-plugins/kubelet.sock; fi

# --- 9. state dir ------------------------------------------------------------------------------
if [ "${KEEP_STATE:-}" = 1 ]; then
  log "[9/9] KEEP_STATE=1: kept $STATE (logs in $STATE/logs)"
else
  find "$STATE" -mindepth 1 -maxdepth 1 ! -name baseline -exec rm -rf {} + 2>/dev/null ||
    log "  could not remove everything under $STATE: $(find "$STATE" -mindepth 1 -maxdepth 1 ! -name baseline -printf '%p ')"
  log "[9/9] removed $STATE (kept baseline/ for verify-clean.sh)"
fi
log "cluster down in $(since "$T0")"
