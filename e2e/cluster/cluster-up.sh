#!/usr/bin/env bash
# Starts the local one-node Kubernetes cluster, everything real: the control plane of
# control-plane-up.sh (advertising this machine's address, so pods reach it through the
# `kubernetes` Service), Debian's containerd as a plain process with a private config, runc and
# gVisor (RuntimeClass `gvisor` -> handler `runsc` -> lib/runsc-cri-wrapper.sh -> runsc built from
# its Go module), CNI bridge, kubelet, kube-proxy (iptables) and kube-router (NetworkPolicy only).
# Nothing leaves the machine: no masquerade, drops for pod traffic in an nftables table of our
# own (lib/netguard.sh), the Service range routed to a port-less bridge. Run as root.
# Build first: build-control-plane.sh, build-node.sh.
# Usage: cluster-up.sh <state-dir>      then: export KUBECONFIG=<state-dir>/kubeconfig
# Env:   SANDBANK_NODE_IP (default: the address of the default route's interface),
#        SANDBANK_APISERVER_PORT (default 6443)
# Stdout: one word, "started" or "already-up" (progress goes to stderr).
# Stop:  cluster-down.sh <state-dir>    Check: verify-clean.sh <state-dir>
. "$(dirname "$0")/lib/common.sh"
. "$CLUSTER_DIR/lib/control-plane.sh"
. "$CLUSTER_DIR/lib/node.sh"
. "$CLUSTER_DIR/lib/netguard.sh"

[ $# -eq 1 ] || die "usage: $0 <state-dir>"
STATE=$(abs_dir "$1")
CP=$STATE/control-plane
T0=$EPOCHREALTIME
NODE_COMPONENTS="containerd kubelet kube-proxy kube-router"
SOCK=$STATE/containerd/containerd.sock
kc() { "$KUBECTL" --kubeconfig="$CP/kubeconfig" "$@"; }
ctr_() { ctr -a "$SOCK" -n k8s.io "$@"; }

# --- prerequisites -----------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "the node needs root (containerd, kubelet, iptables, mounts)"
for b in "$K8S_BIN/kubelet" "$K8S_BIN/kube-proxy" "$KUBECTL"; do
  [ -x "$b" ] || die "missing $b: run e2e/cluster/build-control-plane.sh first"
done
built_ok() { [ -f "$1/.built" ]; }
built_ok "$RUNSC_DIR" || die "missing runsc $GVISOR_VERSION: run e2e/cluster/build-node.sh first"
built_ok "$KUBE_ROUTER_DIR" || die "missing kube-router $KUBE_ROUTER_VERSION: run e2e/cluster/build-node.sh first"
[ -s "$PAUSE_ARCHIVE" ] || die "missing $PAUSE_ARCHIVE: run e2e/cluster/build-node.sh first"
for c in containerd containerd-shim-runc-v2 ctr runc jq iptables ip6tables ipset ip nft; do
  command -v "$c" >/dev/null || die "missing $c: run e2e/cluster/build-node.sh apt"
done
[ -x /usr/lib/cni/bridge ] || die "missing /usr/lib/cni/bridge: run e2e/cluster/build-node.sh apt"
RUNC=$(command -v runc)

all_running() {
  local c
  for c in $NODE_COMPONENTS; do pid_alive "$(recorded_pid "$STATE" "$c")" || return 1; done
  for c in $(cp_components "$CP"); do pid_alive "$(recorded_pid "$CP" "$c")" || return 1; done
  kc get --raw /readyz >/dev/null 2>&1 || return 1
  [ "$(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

# --- already up? -------------------------------------------------------------------------------
if [ -f "$STATE/$CLUSTER_MARKER" ]; then
  if all_running; then
    log "cluster in $STATE is already up (node $NODE_NAME Ready)"
    log "export KUBECONFIG=$STATE/kubeconfig"
    echo already-up
    exit 0
  fi
  log "$STATE holds a stopped or partial cluster: cleaning it up, then starting afresh"
  bash "$CLUSTER_DIR/cluster-down.sh" "$STATE" >&2
elif [ -e "$STATE" ] && [ -n "$(find "$STATE" -mindepth 1 -maxdepth 1 ! -name baseline -print -quit)" ]; then
  die "$STATE exists, is not empty and is not a cluster state dir (no $CLUSTER_MARKER); pick another"
fi
# One local cluster per machine: bridges, the network guard and the pod range are host-global.
for l in "$CNI_BRIDGE" "$SVC_SINK"; do
  ! ip link show "$l" >/dev/null 2>&1 ||
    die "link $l exists: another sandbank cluster runs on this machine (stop it with cluster-down.sh <its state dir>)"
done
guard=$(netguard_state) || die "cannot read the nftables tables (nft list tables), needed for the network guard"
[ "$guard" = absent ] ||
  die "nft table $NETGUARD_FAMILY $NETGUARD_TABLE exists: another sandbank cluster runs on this machine"

NODE_IP=$(node_ip)
[ -n "$NODE_IP" ] || die "could not find this machine's address (set SANDBANK_NODE_IP)"
case $NODE_IP in 127.*) die "the node IP must not be loopback (got $NODE_IP)" ;; esac

rm -rf "$STATE/baseline"
mkdir -p "$STATE"/{baseline,logs,pids,bin,wrapper-state,runsc-root,runc-root,node,pod-logs,cni/net.d,cni/ipam,containerd,kubelet}
chmod 700 "$STATE"
printf 'kubernetes %s\ngvisor %s\nkube-router %s\nnode-ip %s\n' "$KUBERNETES_VERSION" "$GVISOR_VERSION" \
  "$KUBE_ROUTER_VERSION" "$NODE_IP" >"$STATE/$CLUSTER_MARKER"
# shellcheck disable=SC2034 # read by check_alive (lib/control-plane.sh)
ALIVE_COMPONENTS=$NODE_COMPONENTS

on_exit() {
  local rc=$?
  [ "$rc" = 0 ] && return
  local c pid
  for c in $NODE_COMPONENTS; do
    pid=$(recorded_pid "$STATE" "$c")
    if [ -n "$pid" ] && ! pid_alive "$pid"; then
      log "$c exited; last lines of $STATE/logs/$c.log:"
      tail -n 15 "$STATE/logs/$c.log" >&2 || true
    fi
  done
  log "cluster failed to come up after $(since "$T0"); logs: $STATE/logs, $CP/logs; cleaning up"
  KEEP_STATE=1 bash "$CLUSTER_DIR/cluster-down.sh" "$STATE" >&2 || true
}
trap on_exit EXIT

# --- 1. baseline ---------------------------------------------------------------------------------
log "[1/11] recording what the node may change (baseline for down and verify-clean.sh)"
B=$STATE/baseline
for k in $NODE_SYSCTLS; do v=$(sysctl -n "$k" 2>/dev/null) && echo "$k=$v"; done >"$B/sysctl"
for p in $NODE_HOST_PATHS; do [ -e "$p" ] && echo "$p"; done >"$B/host-paths" || true
iptables-save >"$B/iptables" 2>/dev/null || true
ip6tables-save >"$B/ip6tables" 2>/dev/null || true
ipset list -n 2>/dev/null | sort >"$B/ipsets" || true
find /run/netns -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort >"$B/netns" || true
find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d \( -name 'kubepods*' -o -name k8s.io \) 2>/dev/null | sort >"$B/cgroups" || true
echo "$NODE_IP" >"$B/node-ip"

# --- 2. network safety (before anything can start a pod) --------------------------------------
log "[2/11] network safety: nft table $NETGUARD_FAMILY $NETGUARD_TABLE (pod traffic stays on $CNI_BRIDGE), $SERVICE_CIDR routed to bridge $SVC_SINK"
# Our own nftables table, not rules in iptables' FORWARD: kube-proxy and kube-router rewrite
# FORWARD on every sync, while a drop in a table nobody else writes holds whatever they do
# (lib/netguard.sh explains it). In place before any pod exists; removed by cluster-down.sh.
netguard_up || die "could not add the network guard (nft table $NETGUARD_FAMILY $NETGUARD_TABLE)"
# This kernel has no dummy links: a bridge without ports is the sink for ClusterIPs that
# kube-proxy did not translate, so they die here instead of following the default route.
ip link add "$SVC_SINK" type bridge
ip link set "$SVC_SINK" up
ip route add "$SERVICE_CIDR" dev "$SVC_SINK"
# Bridged pod-to-pod traffic reaches iptables (kube-router's policies, the drops) only with this
# (already 1 on these machines; restored by down from the baseline).
[ "$(sysctl -n net.bridge.bridge-nf-call-iptables 2>/dev/null)" = 1 ] || sysctl -qw net.bridge.bridge-nf-call-iptables=1 ||
  die "net.bridge.bridge-nf-call-iptables is not 1 and cannot be set (modprobe br_netfilter?): NetworkPolicy would not be enforced"

# --- 3. control plane --------------------------------------------------------------------------
log "[3/11] control plane on $NODE_IP (control-plane-up.sh, no kwok)"
# Port 6443: pods reach the apiserver through the `kubernetes` Service, and NetworkPolicy egress
# rules (kube-router matches after kube-proxy's DNAT) see the endpoint's port, which Sandbank's
# policies admit as in most clusters (443 or 6443); a random port would be refused.
SANDBANK_CP_NODE_IP=$NODE_IP SANDBANK_CP_KWOK=0 SANDBANK_CP_APISERVER_PORT=${SANDBANK_APISERVER_PORT:-6443} bash "$CLUSTER_DIR/control-plane-up.sh" "$CP" >/dev/null
cp "$CP/kubeconfig" "$STATE/kubeconfig"
# shellcheck source=/dev/null
. "$CP/ports.env"
SERVER=https://$NODE_IP:$APISERVER_PORT

log "[4/11] node certificates and kubeconfigs"
PKI=$CP/pki
newcert ca kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
newcert ca kubelet-serving "/O=system:nodes/CN=system:node:$NODE_NAME" serverAuth "IP:$NODE_IP,DNS:$NODE_NAME"
newcert ca kube-proxy /CN=system:kube-proxy clientAuth
newcert ca kube-router /CN=sandbank:kube-router clientAuth
for c in kubelet kube-proxy kube-router; do kubeconfig "$STATE/node/kubeconfig.$c" "$c"; done
read -r KUBELET_PORT KUBELET_HEALTHZ_PORT PROXY_METRICS_PORT PROXY_HEALTHZ_PORT <<<"$(free_ports 4)"
cat >"$STATE/node/ports.env" <<EOF
KUBELET_PORT=$KUBELET_PORT
KUBELET_HEALTHZ_PORT=$KUBELET_HEALTHZ_PORT
KUBE_PROXY_METRICS_PORT=$PROXY_METRICS_PORT
KUBE_PROXY_HEALTHZ_PORT=$PROXY_HEALTHZ_PORT
EOF

# --- 5. containerd -----------------------------------------------------------------------------
log "[5/11] containerd $(containerd --version | awk '{print $3}') with a private config, runsc wrapper, CNI bridge"
sed -e "s|@RUNC@|$RUNC|" -e "s|@RUNSC@|$RUNSC_BIN|" -e "s|@STATE@|$STATE|" \
  "$CLUSTER_DIR/lib/runsc-cri-wrapper.sh" >"$STATE/bin/runsc-cri-wrapper"
chmod 755 "$STATE/bin/runsc-cri-wrapper"
cat >"$STATE/cni/net.d/10-sandbank.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CNI_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/ipam",
        "ranges": [[{"subnet": "$NODE_POD_CIDR"}]],
        "routes": [{"dst": "$POD_CIDR"}, {"dst": "$SERVICE_CIDR"}]
      }
    },
    {"type": "loopback"}
  ]
}
EOF
cat >"$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  disable_apparmor = true
  # no CAP_SYS_RESOURCE here: a negative oom_score_adj is refused
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$STATE/runc-root"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc.options]
        BinaryName = "$STATE/bin/runsc-cri-wrapper"
        Root = "$STATE/runsc-root"
EOF
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
start containerd containerd --config "$STATE/containerd/config.toml"
wait_until "containerd on $SOCK" 30 ctr -a "$SOCK" version

log "[6/11] importing images into containerd (k8s.io namespace)"
import_image() { # <archive> <ref>
  ctr_ images import --base-name "${2%:*}" "$1" >/dev/null
  ctr_ images label "$2" io.cri-containerd.pinned=pinned >/dev/null
  log "  $2"
}
import_image "$PAUSE_ARCHIVE" "$PAUSE_IMAGE"
[ ! -s "$BUSYBOX_ARCHIVE" ] || import_image "$BUSYBOX_ARCHIVE" "$BUSYBOX_IMAGE"

# --- 7. kubelet --------------------------------------------------------------------------------
log "[7/11] kubelet $KUBERNETES_VERSION as node $NODE_NAME ($NODE_IP)"
echo "# sandbank: no upstream resolver, nothing is ever asked outside this machine" >"$STATE/node/resolv.conf"
cat >"$STATE/node/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
containerRuntimeEndpoint: unix://$SOCK
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
protectKernelDefaults: false
clusterDomain: cluster.local
resolvConf: $STATE/node/resolv.conf
podLogsDir: $STATE/pod-logs
podCIDR: $NODE_POD_CIDR
maxPods: 110
serializeImagePulls: false
# one small disk and imported images: no surprise evictions or image GC
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
start kubelet "$K8S_BIN/kubelet" --config="$STATE/node/kubelet.yaml" \
  --kubeconfig="$STATE/node/kubeconfig.kubelet" --root-dir="$STATE/kubelet" \
  --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --v=1
wait_until "node $NODE_NAME to register" 60 kc get node "$NODE_NAME"
wait_until "node $NODE_NAME Ready" 90 kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=1s
log "  node Ready after $(since "$T0")"

# --- 8. kube-proxy -----------------------------------------------------------------------------
log "[8/11] kube-proxy (iptables mode)"
cat >"$STATE/node/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $STATE/node/kubeconfig.kube-proxy}
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
metricsBindAddress: 127.0.0.1:$PROXY_METRICS_PORT
healthzBindAddress: 127.0.0.1:$PROXY_HEALTHZ_PORT
# do not touch the conntrack sysctls or route_localnet
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false, masqueradeAll: false, syncPeriod: 30s, minSyncPeriod: 1s}
nodePortAddresses: [primary]
EOF
start kube-proxy "$K8S_BIN/kube-proxy" --config="$STATE/node/kube-proxy.yaml" --v=1
wait_until "kube-proxy's FORWARD rules" 60 sh -c 'iptables -S FORWARD | grep -q KUBE-FORWARD'

# --- 9. kube-router ----------------------------------------------------------------------------
log "[9/11] kube-router $KUBE_ROUTER_VERSION (NetworkPolicy firewall only)"
kc apply -f - >/dev/null <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "sandbank:kube-router"}
rules:
- apiGroups: [""]
  resources: [namespaces, pods, services, nodes, endpoints]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, create, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "sandbank:kube-router"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "sandbank:kube-router"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "sandbank:kube-router"}]
EOF
start kube-router "$KUBE_ROUTER_BIN" --kubeconfig="$STATE/node/kubeconfig.kube-router" \
  --run-firewall=true --run-router=false --run-service-proxy=false \
  --hostname-override="$NODE_NAME" --health-port=0 \
  --service-cluster-ip-range="$SERVICE_CIDR" --v=1
wait_until "kube-router's FORWARD rules" 60 sh -c 'iptables -S FORWARD | grep -q KUBE-ROUTER-FORWARD'

# --- 10. RuntimeClass --------------------------------------------------------------------------
log "[10/11] RuntimeClass gvisor (handler runsc)"
kc apply -f - >/dev/null <<'EOF'
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: gvisor}
handler: runsc
EOF

log "[11/11] checks"
wait_until "ServiceAccount default/default" 60 kc -n default get serviceaccount default
check_alive
netguard_check || die "the network guard (nft table $NETGUARD_FAMILY $NETGUARD_TABLE) is not complete"

trap - EXIT
log "cluster up in $(since "$T0"): node $NODE_NAME Ready at $NODE_IP, apiserver $SERVER"
log "export KUBECONFIG=$STATE/kubeconfig"
echo started
