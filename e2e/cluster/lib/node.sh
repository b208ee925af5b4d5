# shellcheck shell=bash disable=SC2034
# Paths and helpers of the real node (build-node.sh, cluster-up.sh, cluster-down.sh,
# build-image.sh, load-images.sh, verify-clean.sh). Source it after lib/common.sh.

RUNSC_DIR=$SANDBANK_CACHE/runsc-$GVISOR_VERSION
RUNSC_BIN=$RUNSC_DIR/bin/runsc
KUBE_ROUTER_DIR=$SANDBANK_CACHE/kube-router-$KUBE_ROUTER_VERSION
KUBE_ROUTER_BIN=$KUBE_ROUTER_DIR/bin/kube-router
# OCI archives of our own small images (ctr imports them into the k8s.io namespace).
IMAGES_DIR=$SANDBANK_CACHE/images
PAUSE_ARCHIVE=$IMAGES_DIR/pause-${PAUSE_IMAGE##*:}.tar
BUSYBOX_ARCHIVE=$IMAGES_DIR/busybox-${BUSYBOX_IMAGE##*:}.tar
# debootstrap rootfs tarball of the base image, and buildah's private storage (vfs driver).
DEBIAN_BASE_DIR=$SANDBANK_CACHE/debian-base-$DEBIAN_SUITE-$DEBIAN_BASE_DATE
BUILDAH_ROOT=$SANDBANK_CACHE/buildah/storage
BUILDAH_RUNROOT=$SANDBANK_CACHE/buildah/run

# Node-wide names: one local cluster per machine (they are host-global objects).
CLUSTER_MARKER=.sandbank-cluster
NODE_NAME=${SANDBANK_NODE_NAME:-sandbank-node}
POD_CIDR=10.244.0.0/16
NODE_POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
CNI_BRIDGE=sbk-br0
SVC_SINK=sbk-svc
CNI_NETWORK=sandbank
# Sysctls the node may change (kubelet with protectKernelDefaults=false, the CNI bridge plugin,
# kube-proxy, kube-router): recorded by up, restored by down.
NODE_SYSCTLS="net.ipv4.ip_forward net.ipv4.conf.all.route_localnet net.bridge.bridge-nf-call-iptables
net.bridge.bridge-nf-call-ip6tables net.ipv6.conf.all.forwarding vm.overcommit_memory vm.panic_on_oom
kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes
net.netfilter.nf_conntrack_max net.netfilter.nf_conntrack_tcp_timeout_established
net.netfilter.nf_conntrack_tcp_timeout_close_wait"
# Host paths the kubelet, containerd and CNI write outside the state dir (not configurable in
# these versions); up records which existed before, down removes the ones it created.
NODE_HOST_PATHS="/run/containerd /var/lib/cni /var/lib/kubelet /var/log/containers /var/log/pods /run/netns /opt/containerd"

buildah_() { buildah --root "$BUILDAH_ROOT" --runroot "$BUILDAH_RUNROOT" --storage-driver vfs "$@"; }

# The address of the interface that carries the default route: pods reach the apiserver there.
node_ip() {
  if [ -n "${SANDBANK_NODE_IP:-}" ]; then echo "$SANDBANK_NODE_IP"; return; fi
  local dev
  # (the awk programs read all their input: one that exits early could kill `ip` with SIGPIPE)
  dev=$(ip -4 -o route show default | awk 'dev == "" { for (i = 1; i < NF; i++) if ($i == "dev") { dev = $(i + 1); break } } END { if (dev != "") print dev }')
  [ -n "$dev" ] || dev=$(ip -4 -o addr show scope global | awk 'NR == 1 { print $2 }')
  ip -4 -o addr show dev "$dev" scope global | awk 'NR == 1 { split($4, a, "/"); print a[1] }'
}

