#!/usr/bin/env bash
# Imports OCI (or docker) image archives into the k8s.io namespace of the cluster's containerd, so
# pods with imagePullPolicy Never/IfNotPresent find them (nothing is ever pulled).
# Usage: load-images.sh <state-dir> <archive>...      e.g. with the paths build-image.sh prints
. "$(dirname "$0")/lib/common.sh"
. "$CLUSTER_DIR/lib/control-plane.sh"
. "$CLUSTER_DIR/lib/node.sh"

[ $# -ge 2 ] || die "usage: $0 <state-dir> <archive>..."
STATE=$(abs_dir "$1"); shift
SOCK=$STATE/containerd/containerd.sock
if ! pid_alive "$(recorded_pid "$STATE" containerd)" || [ ! -S "$SOCK" ]; then
  die "containerd of $STATE is not running (cluster-up.sh $STATE first)"
fi
T0=$EPOCHREALTIME
for a in "$@"; do
  [ -s "$a" ] || die "no image archive at $a"
  out=$(ctr -a "$SOCK" -n k8s.io images import "$a" 2>&1) || die "ctr images import $a failed: $out"
  refs=$(printf '%s\n' "$out" | awk '/^unpacking / {print $2}')
  log "imported $(basename "$a"): ${refs:-$out}"
done
log "loaded $# archive(s) in $(since "$T0")"
