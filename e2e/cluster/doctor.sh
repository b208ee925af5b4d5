#!/usr/bin/env bash
# `make doctor`: checks in seconds what `make up` and `make test` need from this machine, the
# things a 10-minute build would otherwise find late: root, the toolchains (Go, Node.js, Python),
# the cgroup layout, the kernel features the node uses (nftables/iptables, ipset, bridge and
# bridge netfilter, overlayfs, network namespaces, seccomp), free disk and memory, the port the
# cluster listens on, and no other local cluster on the machine. Each missing piece is printed with
# the command that fixes it. Changes nothing.
#
# Usage: doctor.sh [up|test|all] [state-dir]
#   up    run first by `make up` (and `make test-cluster`): Debian packages that `make up` installs
#         itself (build-node.sh apt) are reported as "todo", not as failures
#   test  run by `make test` after `make test-deps`: what test-deps installs must be there by now;
#         packages that build-node.sh installs later are "todo"
#   all   `make doctor` (default): both; packages either of them installs are "todo"
#   state-dir: the cluster's state dir (default $SANDBANK_CACHE/cluster-state, as the Makefile's
#         CLUSTER_STATE): a cluster running from it is ours (its port in use is fine)
# Exit: 0 when nothing required is missing, 1 otherwise.
. "$(dirname "$0")/lib/common.sh"
. "$CLUSTER_DIR/lib/control-plane.sh"
. "$CLUSTER_DIR/lib/node.sh"
. "$CLUSTER_DIR/lib/netguard.sh"
set +e # every check runs; each one reports its own result

MODE=${1:-all}
case $MODE in up | test | all) ;; *) die "usage: $0 [up|test|all] [state-dir]" ;; esac
STATE=$(abs_dir "${2:-$SANDBANK_CACHE/cluster-state}")
APISERVER_PORT=${SANDBANK_APISERVER_PORT:-6443}
# Free disk for a cold build. Measured after the cold builds on 2 cores: Go's build cache 5.1 GiB
# and module cache 2.0 GiB, $SANDBANK_CACHE 1.4 GiB before Sandbank's images, node_modules 0.4
# GiB; the images (buildah's vfs storage keeps a full copy per layer) and the cluster's containerd
# and logs add a few GiB. So: 7 GiB where Go keeps its caches, 8 GiB under $SANDBANK_CACHE, 15 when
# both are on one filesystem; once everything is built, 3 GiB for images, cluster state and logs.
DISK_GO_GIB=7
DISK_CACHE_GIB=8
DISK_WARM_GIB=3
# MemAvailable: a Go link of kube-apiserver takes about 2 GiB; the cluster with Sandbank and the
# tests about 3 GiB.
MEM_MIN_GIB=4
MEM_GOOD_GIB=6

failures=0
todos=0
ok() { printf '  ok    %s\n' "$*"; }
note() { printf '  note  %s\n' "$*"; }
todo() { printf '  todo  %s\n' "$*"; todos=$((todos + 1)); }
warn() { printf '  warn  %s\n' "$*"; }
fail() { # <what> <fix>
  printf '  FAIL  %s\n        fix: %s\n' "$1" "$2"
  failures=$((failures + 1))
}
have() { command -v "$1" >/dev/null 2>&1; }
is_root() { [ "$(id -u)" = 0 ]; }
# not_installed <debian package>...: prints those of them that are not installed (one dpkg-query).
not_installed() {
  local out pkg status
  out=$(dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null) # exits 1 when one is unknown
  for pkg in "$@"; do
    status=$(awk -v p="$pkg" '$1 == p { $1 = ""; print substr($0, 2) }' <<<"$out")
    [ "$status" = "install ok installed" ] || echo "$pkg"
  done
}

T0=$EPOCHREALTIME
printf 'sandbank doctor (%s): this machine for %s; cluster state %s\n' "$MODE" \
  "$(case $MODE in up) echo "make up" ;; test) echo "make test" ;; *) echo "make up and make test" ;; esac)" "$STATE"

# --- who we are --------------------------------------------------------------------------------
if is_root; then
  ok "root (the node: containerd, kubelet, nftables, mounts)"
else
  fail "not root: the local cluster (make up, the e2e suite of make test) runs containerd, kubelet and nftables" \
    "run make as root (sudo -E make …)"
fi

# --- toolchains --------------------------------------------------------------------------------
if have go; then
  gov=$(go env GOVERSION 2>/dev/null)
  if version_ge "$gov" "$GO_MIN_VERSION"; then ok "Go ${gov#go} (>= $GO_MIN_VERSION)"
  else fail "Go ${gov#go} is older than $GO_MIN_VERSION (builds etcd, Kubernetes, kwok, runsc, kube-router)" \
    "install Go >= $GO_MIN_VERSION from https://go.dev/dl (tar -C /usr/local -xzf go<version>.linux-amd64.tar.gz; PATH=/usr/local/go/bin:\$PATH)"
  fi
else
  fail "Go is missing (builds etcd, Kubernetes, kwok, runsc, kube-router)" \
    "install Go >= $GO_MIN_VERSION from https://go.dev/dl (tar -C /usr/local -xzf go<version>.linux-amd64.tar.gz; PATH=/usr/local/go/bin:\$PATH)"
fi
if have node; then
  nodev=$(node --version 2>/dev/null)
  if version_ge "$nodev" "$NODE_MIN_VERSION"; then ok "Node.js ${nodev#v} (>= $NODE_MIN_VERSION)"
  else fail "Node.js ${nodev#v} is older than $NODE_MIN_VERSION" "install Node.js >= $NODE_MIN_VERSION (https://nodejs.org/en/download, or NodeSource's Debian packages)"
  fi
  have npm || fail "npm is missing (it comes with Node.js)" "install Node.js >= $NODE_MIN_VERSION with its npm (https://nodejs.org/en/download)"
else
  fail "Node.js is missing" "install Node.js >= $NODE_MIN_VERSION (https://nodejs.org/en/download, or NodeSource's Debian packages)"
fi
# The runtime itself is pinned (versions.env) and fetched with that npm.
if [ -x "$SANDBANK_CACHE/node-$NODE_VERSION/bin/node" ]; then ok "Node.js $NODE_VERSION, the pinned runtime (cached)"
else todo "Node.js $NODE_VERSION, the pinned runtime, is not fetched yet (make fetches it: install-node.sh, about 50 MB from the npm registry)"
fi
# python3: make test-deps installs Debian's (3.11 on bookworm); make up needs it for the quickstart.
if have python3; then
  pyv=$(python3 -c 'import platform; print(platform.python_version())' 2>/dev/null)
  if version_ge "$pyv" "$PYTHON_MIN_VERSION"; then
    ok "Python $pyv (>= $PYTHON_MIN_VERSION)"
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
      if is_root; then todo "Python's venv module is missing: clients/python/scripts/venv.sh installs python3-venv (apt) on first use"
      else fail "Python's venv module is missing" "apt-get install -y python3-venv"
      fi
    fi
  else
    fail "Python $pyv is older than $PYTHON_MIN_VERSION (the Python client, its tests, the quickstart)" "install Python >= $PYTHON_MIN_VERSION (Debian 12: apt-get install -y python3 python3-venv)"
  fi
elif [ "$MODE" = all ] && is_root; then
  fail "python3 is missing (make test-deps installs it for make test; make up needs it too, for the quickstart)" "make test-deps (or apt-get install -y python3 python3-venv)"
else
  fail "python3 is missing (the Python client, its tests, the quickstart)" "apt-get install -y python3 python3-venv (make test-deps does)"
fi

# --- Debian packages -----------------------------------------------------------------------------
# make test-deps (install-test-deps.sh): commands the tests use (TEST_DEP_TOOLS, command:package);
# build-node.sh apt (make up, make node-build): Debian packages the node uses.
read -ra node_pkgs <<<"$NODE_APT_PACKAGES iproute2"
have dpkg-query || fail "dpkg-query is missing: this is not a Debian system" "use Debian 12 (bookworm), which the scripts install packages for"
mapfile -t missing_node < <(not_installed "${node_pkgs[@]}")
test_cmds=() missing_test=()
for tool in $TEST_DEP_TOOLS; do
  test_cmds+=("${tool%%:*}")
  have "${tool%%:*}" || missing_test+=("${tool#*:}")
done
if [ ${#missing_node[@]} -eq 0 ]; then ok "the node's Debian packages (${#node_pkgs[@]}: containerd, runc, buildah, nftables, iptables, …)"
elif is_root; then todo "Debian packages of the node not installed yet: ${missing_node[*]} (make up / make node-build installs them: build-node.sh apt)"
else fail "Debian packages of the node missing: ${missing_node[*]}" "apt-get install -y --no-install-recommends ${missing_node[*]} (as root)"
fi
if [ "$MODE" != up ]; then
  if [ ${#missing_test[@]} -eq 0 ]; then ok "the tests' commands (${test_cmds[*]})"
  elif [ "$MODE" = all ] && is_root; then todo "Debian packages of the tests not installed yet: ${missing_test[*]} (make test / make test-deps installs them)"
  else fail "Debian packages of the tests missing: ${missing_test[*]}" "make test-deps (apt-get install -y --no-install-recommends ${missing_test[*]})"
  fi
fi

# --- cgroups -----------------------------------------------------------------------------------
CG=/sys/fs/cgroup
if [ -f "$CG/cgroup.controllers" ]; then
  controllers=$(cat "$CG/cgroup.controllers")
  miss=()
  for c in cpu memory pids; do [[ " $controllers " == *" $c "* ]] || miss+=("$c"); done
  if [ ${#miss[@]} -gt 0 ]; then fail "cgroup v2 without the ${miss[*]} controller(s) (the kubelet puts pods in cgroups)" "boot with those controllers enabled (or give this container a cgroup namespace with them)"
  elif is_root && [ ! -w "$CG" ]; then fail "cgroup v2 at $CG is read-only (the kubelet creates kubepods there)" "run with a writable cgroup filesystem (a container: --cgroupns=private and cgroup rw)"
  else ok "cgroup v2 ($controllers)"
  fi
else
  miss=() ro=()
  for c in cpu cpuacct cpuset memory pids devices freezer; do
    # (writable only matters as root; without root the check above has failed already)
    if [ -d "$CG/$c" ]; then [ -w "$CG/$c" ] || ! is_root || ro+=("$c"); else miss+=("$c"); fi
  done
  if [ ${#miss[@]} -gt 0 ]; then fail "cgroup v1 without the hierarchies ${miss[*]} under $CG (the kubelet puts pods in cgroups)" "mount them (mount -t cgroup -o <name> cgroup $CG/<name>) or boot with cgroup v2"
  elif [ ${#ro[@]} -gt 0 ]; then fail "cgroup v1 hierarchies ${ro[*]} are read-only" "run with a writable cgroup filesystem"
  else ok "cgroup v1 (cpu, cpuacct, cpuset, memory, pids, devices, freezer)"
  fi
fi

# --- kernel features ---------------------------------------------------------------------------
# nftables: the network guard (lib/netguard.sh); iptables (nft backend): kube-proxy, kube-router.
if have nft && is_root; then
  if out=$(nft list tables 2>&1); then ok "nftables works (nft list tables)"
  else fail "nft list tables fails: $out (the network guard needs nf_tables)" "modprobe nf_tables (or a kernel with CONFIG_NF_TABLES)"
  fi
elif ! have nft; then
  todo "nft is not installed yet (package nftables, build-node.sh apt): the nf_tables check runs once it is"
fi
if have iptables && is_root; then
  if out=$(iptables -S FORWARD 2>&1); then ok "iptables works ($(iptables --version 2>/dev/null))"
  else fail "iptables -S FORWARD fails: $out (kube-proxy and kube-router need it)" "modprobe nf_tables ip_tables x_tables (or a kernel with them)"
  fi
elif ! have iptables; then
  todo "iptables is not installed yet (build-node.sh apt): its check runs once it is"
fi
if [ -d /sys/module/ip_set ] || { have ipset && is_root && ipset list -n >/dev/null 2>&1; }; then ok "ipset (kube-router's NetworkPolicy)"
else fail "no ipset support in the kernel (kube-router's NetworkPolicy uses ipsets)" "modprobe ip_set"
fi
if [ -d /sys/module/bridge ]; then ok "bridge (the pod network, the Service sink)"
else fail "the bridge module is not loaded (the pod network is a Linux bridge)" "modprobe bridge"
fi
if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then ok "bridge netfilter (NetworkPolicy on bridged pod traffic)"
else fail "bridge netfilter is missing: /proc/sys/net/bridge/bridge-nf-call-iptables (NetworkPolicy between pods needs it)" "modprobe br_netfilter"
fi
if grep -qw overlay /proc/filesystems; then ok "overlayfs (containerd's snapshotter)"
else fail "overlayfs is missing (containerd's overlayfs snapshotter)" "modprobe overlay"
fi
if have ip; then
  if out=$(ip netns list 2>&1); then ok "network namespaces (ip netns)"
  else fail "ip netns list fails: $out (pods get network namespaces)" "a kernel with CONFIG_NET_NS (and /run writable)"
  fi
else
  todo "ip is not installed yet (iproute2, installed by make test-deps and build-node.sh apt): the netns check runs once it is"
fi
if [ -r /proc/sys/kernel/seccomp/actions_avail ] && grep -qw trap /proc/sys/kernel/seccomp/actions_avail; then
  ok "seccomp with SECCOMP_RET_TRAP (gVisor's systrap platform)"
else
  fail "seccomp trap action unavailable (gVisor's systrap platform needs it)" "a kernel with CONFIG_SECCOMP_FILTER (Linux >= 4.14)"
fi

# --- disk and memory ---------------------------------------------------------------------------
# df of the nearest existing parent of a path
df_avail_kib() {
  local p=$1 out
  while [ ! -e "$p" ]; do p=$(dirname "$p"); done
  out=$(df -Pk "$p" 2>/dev/null) || return 1
  awk 'NR == 2 { print $4 }' <<<"$out"
}
# dev_of <path>: the device of the filesystem holding it (or its nearest existing parent)
dev_of() {
  local p=$1
  while [ ! -e "$p" ]; do p=$(dirname "$p"); done
  stat -c %d "$p"
}
# check_disk <path> <GiB> <why> <fix>
check_disk() {
  local avail
  avail=$(df_avail_kib "$1")
  if [ -z "$avail" ]; then warn "could not read the free space under $1"
  elif [ $((avail / 1048576)) -ge "$2" ]; then ok "disk: $((avail / 1048576)) GiB free under $1 (>= $2 GiB for $3)"
  else fail "disk: $((avail / 1048576)) GiB free under $1, $2 GiB needed for $3" "$4"
  fi
}
fix_disk="free space there, or point SANDBANK_CACHE (and GOMODCACHE, GOCACHE) at a bigger disk"
if cached "$SANDBANK_CACHE/kubernetes-$KUBERNETES_VERSION" bin/kube-apiserver && cached "$RUNSC_DIR" bin/runsc &&
  [ -s "$DEBIAN_BASE_DIR/rootfs.tar" ]; then
  check_disk "$SANDBANK_CACHE" "$DISK_WARM_GIB" "images, cluster state and logs; the builds are cached" "$fix_disk"
else
  gocache=${GOCACHE:-}
  [ -n "$gocache" ] || { have go && gocache=$(go env GOCACHE 2>/dev/null); }
  if [ -z "$gocache" ] || [ "$(dev_of "$gocache")" = "$(dev_of "$SANDBANK_CACHE")" ]; then
    check_disk "$SANDBANK_CACHE" $((DISK_CACHE_GIB + DISK_GO_GIB)) "a cold build, Go's caches included" "$fix_disk"
  else
    check_disk "$SANDBANK_CACHE" "$DISK_CACHE_GIB" "a cold build" "$fix_disk"
    check_disk "$gocache" "$DISK_GO_GIB" "Go's build and module caches" "free space there, or set GOCACHE and GOMODCACHE to a bigger disk"
  fi
fi
mem=$(awk '/^MemAvailable:/ { print int($2 / 1048576) }' /proc/meminfo)
if [ "${mem:-0}" -lt "$MEM_MIN_GIB" ]; then fail "memory: ${mem:-?} GiB available, $MEM_MIN_GIB GiB needed (Go links, the cluster, the tests)" "stop other workloads or use a bigger machine"
elif [ "$mem" -lt "$MEM_GOOD_GIB" ]; then warn "memory: $mem GiB available; builds and tests are slow below $MEM_GOOD_GIB GiB"
else ok "memory: $mem GiB available (>= $MEM_MIN_GIB GiB)"
fi
cpus=$(nproc 2>/dev/null)
if [ "${cpus:-1}" -ge 2 ]; then ok "$cpus CPUs"
else warn "${cpus:-1} CPU: a cold build takes much longer than the README's 2-core figures"
fi

# --- the cluster's port, and no other cluster ----------------------------------------------------
# Our cluster runs when the state dir has the marker and its apiserver's recorded process lives.
ours_running=0
our_apiserver=$(recorded_pid "$STATE/control-plane" kube-apiserver)
if [ -f "$STATE/$CLUSTER_MARKER" ] && pid_alive "$our_apiserver"; then ours_running=1; fi

# listening_pids <port>: PIDs listening on TCP <port> (any address), from ss -p; "?" when something
# listens but ss cannot say who (or is missing).
listening_pids() {
  local port=$1 hex out line
  if have ss; then
    out=$(ss -Hltnp "sport = :$port" 2>/dev/null) || out=""
    [ -n "$out" ] || return 0
    while read -r line; do
      [[ $line =~ pid=([0-9]+) ]] && echo "${BASH_REMATCH[1]}" || echo "?"
    done <<<"$out"
    return 0
  fi
  hex=$(printf '%04X' "$port")
  # /proc/net/tcp{,6}: local_address is ADDR:PORT in hex, st 0A is LISTEN
  out=$(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null)
  awk -v p=":$hex" '$2 ~ p "$" && $4 == "0A" { found = 1 } END { if (found) print "?" }' <<<"$out"
}
pids=$(listening_pids "$APISERVER_PORT")
if [ -z "$pids" ]; then
  ok "port $APISERVER_PORT is free (the cluster's kube-apiserver)"
elif [ "$ours_running" = 1 ] && grep -qxF "$our_apiserver" <<<"$pids"; then
  ok "port $APISERVER_PORT: the kube-apiserver of the cluster in $STATE (pid $our_apiserver; make up reuses it)"
else
  who=""
  for p in $pids; do [ "$p" = "?" ] || who="$who $p ($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-80))"; done
  fail "port $APISERVER_PORT is taken by another process:${who:- (unknown)} (the cluster's kube-apiserver listens there)" \
    "stop it (ss -ltnp 'sport = :$APISERVER_PORT' shows it; if it is another sandbank cluster: bash e2e/cluster/cluster-down.sh <its state dir>), or set SANDBANK_APISERVER_PORT"
fi
# Host-global names of a cluster: links and the nft table. Present without our cluster running:
# another state dir's cluster, or the leftovers of one that was killed.
others=()
for l in "$CNI_BRIDGE" "$SVC_SINK"; do [ -d "/sys/class/net/$l" ] && others+=("link $l"); done
if have nft && is_root; then
  guard=$(netguard_state 2>/dev/null) && [ "$guard" = present ] && others+=("nft table $NETGUARD_FAMILY $NETGUARD_TABLE")
fi
others_list=$(printf '%s, ' "${others[@]}")
others_list=${others_list%, }
if [ ${#others[@]} -eq 0 ]; then
  ok "no other local cluster on this machine"
elif [ "$ours_running" = 1 ]; then
  ok "the cluster in $STATE runs ($others_list)"
else
  # the state dir of the cluster that made them: its kubelet's --root-dir is <state>/kubelet
  theirs=""
  for p in /proc/[0-9]*; do
    c=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
    [[ $c =~ kubelet\ .*--root-dir=([^ ]+)/kubelet ]] && { theirs=${BASH_REMATCH[1]}; break; }
  done
  if [ -f "$STATE/$CLUSTER_MARKER" ] && [ -z "$theirs" ]; then
    note "$others_list left by a stopped cluster in $STATE: make up cleans it up (cluster-down.sh) and starts afresh"
  else
    fail "$others_list exist: another sandbank cluster${theirs:+ (state dir $theirs)} runs on this machine, or one was killed" \
      "bash e2e/cluster/cluster-down.sh ${theirs:-<its state dir>} (then bash e2e/cluster/verify-clean.sh <that dir>)"
  fi
fi
# Pod and Service ranges: a route of this machine into them (not ours) would take pod traffic.
if have ip; then
  routes=$(ip -4 route show 2>/dev/null)
  clash=$(awk -v br="$CNI_BRIDGE" -v sink="$SVC_SINK" '$1 ~ /^10\.(244|96)\./ && $0 !~ ("dev (" br "|" sink ")( |$)") { print $1 }' <<<"$routes")
  if [ -n "$clash" ]; then warn "routes into the pod or Service range that are not the cluster's: $(tr '\n' ' ' <<<"$clash")(pods use 10.244.0.0/16, Services 10.96.0.0/16)"
  fi
  nip=$(node_ip 2>/dev/null)
  case $nip in
    "") fail "no address for the node: no default route and no global IPv4 address" "set SANDBANK_NODE_IP=<this machine's address>" ;;
    127.*) fail "the node address would be loopback ($nip)" "set SANDBANK_NODE_IP=<a non-loopback address of this machine>" ;;
    *) ok "node address $nip" ;;
  esac
fi

# --- summary -----------------------------------------------------------------------------------
took=$(since "$T0")
if [ "$failures" -gt 0 ]; then
  printf 'doctor: %d missing piece(s) (FAIL above, each with its fix); %d todo left to the build (%s)\n' "$failures" "$todos" "$took"
  exit 1
fi
printf 'doctor: ready%s (%s)\n' "$([ "$todos" = 0 ] || echo "; $todos todo(s) the build installs itself")" "$took"
