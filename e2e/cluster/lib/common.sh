# shellcheck shell=bash
# Shared helpers for the e2e/cluster scripts. Source it; do not run it.
set -euo pipefail

CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../versions.env
. "$CLUSTER_DIR/versions.env"

SANDBANK_CACHE=${SANDBANK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sandbank}
export SANDBANK_CACHE

log() { printf '[sandbank %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Go writes its module cache and build cache next to our builds so one cache dir holds everything.
go_env() {
  export GOFLAGS=${GOFLAGS:-} CGO_ENABLED=0
  export GOMODCACHE=${GOMODCACHE:-$(go env GOMODCACHE)}
}
