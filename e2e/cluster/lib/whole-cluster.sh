# shellcheck shell=bash
# For the scripts that act on a whole local cluster given by its state dir (smoke.sh,
# verify-clean.sh): the control-plane, node and network-guard libraries, and the one argument.
# Source it after lib/common.sh.
# shellcheck source=control-plane.sh
. "$CLUSTER_DIR/lib/control-plane.sh"
# shellcheck source=node.sh
. "$CLUSTER_DIR/lib/node.sh"
# shellcheck source=netguard.sh
. "$CLUSTER_DIR/lib/netguard.sh"

# state_dir_arg <args...>: the script's only argument, the cluster's state dir, made absolute in
# STATE (which the sourcing script reads).
state_dir_arg() {
  [ $# -eq 1 ] || die "usage: $0 <state-dir>"
  # shellcheck disable=SC2034
  STATE=$(abs_dir "$1")
}
