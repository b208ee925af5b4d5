#!/usr/bin/env bash
# Stops a control plane started by control-plane-up.sh: SIGTERM to every recorded process (last
# started first), SIGKILL after 15 s, then removes <state-dir> unless KEEP_STATE=1.
# Usage: control-plane-down.sh <state-dir>       A missing or empty state dir is a no-op.
. "$(dirname "$0")/lib/common.sh"
. "$CLUSTER_DIR/lib/control-plane.sh"

[ $# -eq 1 ] || die "usage: $0 <state-dir>"
STATE=$(abs_dir "$1")
T0=$EPOCHREALTIME

if [ ! -d "$STATE" ]; then
  log "nothing to stop: $STATE does not exist"
  exit 0
fi
if [ ! -f "$STATE/$CP_MARKER" ]; then
  if [ -z "$(ls -A "$STATE")" ]; then
    [ "${KEEP_STATE:-}" = 1 ] || rmdir "$STATE"
    log "nothing to stop: $STATE is empty"
    exit 0
  fi
  die "$STATE is not a control-plane state dir (no $CP_MARKER); refusing to touch it"
fi

log "stopping the control plane in $STATE"
stop_all "$STATE"
if [ "${KEEP_STATE:-}" = 1 ]; then
  log "KEEP_STATE=1: kept $STATE (logs in $STATE/logs)"
else
  rm -rf "$STATE"
  log "removed $STATE"
fi
log "control plane down in $(since "$T0")"
