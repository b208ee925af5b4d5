# shellcheck shell=bash
# Shared helpers for the e2e/cluster scripts. Source it; do not run it.
set -euo pipefail

CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../versions.env
. "$CLUSTER_DIR/versions.env"

SANDBANK_CACHE=${SANDBANK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sandbank}
export SANDBANK_CACHE

# The pinned Node.js runtime (install-node.sh, make) comes first on PATH once it is fetched, so a
# script run by hand uses the same node as make (the images copy it).
if [ -x "$SANDBANK_CACHE/node-$NODE_VERSION/bin/node" ]; then
  PATH="$SANDBANK_CACHE/node-$NODE_VERSION/bin:$PATH"
  export PATH
fi

# The toolchains the README asks for (doctor.sh checks them).
# shellcheck disable=SC2034 # used by the scripts that source this file
GO_MIN_VERSION=1.26.3 NODE_MIN_VERSION=20.19 PYTHON_MIN_VERSION=3.10
# What the tests need on PATH (command:Debian package); install-test-deps.sh (make test-deps)
# installs the missing ones.
# shellcheck disable=SC2034 # used by the scripts that source this file
TEST_DEP_TOOLS="openssl:openssl git:git make:make curl:curl python3:python3 runsc:runsc ip:iproute2 shellcheck:shellcheck"

# since <start>: the time since <start> (an $EPOCHREALTIME value), as "12.3 s".
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }'; }

log() { printf '[sandbank %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Go's module and build caches stay where `go env` puts them (~/go/pkg/mod, ~/.cache/go-build),
# shared with the user's other Go work; set GOMODCACHE/GOCACHE to move them (cold-run.sh does).
go_env() {
  export GOFLAGS=${GOFLAGS:-} CGO_ENABLED=0
  export GOMODCACHE=${GOMODCACHE:-$(go env GOMODCACHE)}
}

# version_ge <have> <want>: dotted versions compared numerically (1.26.10 >= 1.26.3); a leading
# "v" or "go" and a suffix such as "rc1" are ignored.
version_ge() {
  local have=${1#go} want=${2#go} i x y
  local -a a b
  IFS=. read -ra a <<<"${have#v}"
  IFS=. read -ra b <<<"${want#v}"
  for ((i = 0; i < ${#b[@]}; i++)); do
    x=${a[i]:-0} y=${b[i]:-0}
    x=${x%%[!0-9]*} y=${y%%[!0-9]*}
    ((10#${x:-0} == 10#${y:-0})) || { ((10#${x:-0} > 10#${y:-0})); return; }
  done
}

# --- cached builds -----------------------------------------------------------------------------
# A part lives in <dir> (e.g. $SANDBANK_CACHE/etcd-<version>). It is built in a sibling temp dir,
# its artefacts are verified there, the stamp .built is written last into that dir, and only then
# does the dir take the place of <dir> (a rename). So <dir> is either a finished, verified build or
# absent/stale; an interrupted build leaves only a temp dir, which the next build removes.

# cached <dir> <file>...: <dir> holds a finished build (the stamp) and each artefact is still there
# (executable).
cached() {
  local dir=$1 f
  shift
  [ -f "$dir/.built" ] || return 1
  for f in "$@"; do [ -x "$dir/$f" ] || return 1; done
}

# stage_dir <dir>: prints a new empty temp dir next to <dir> to build it in (named after this
# script's PID); temp dirs of earlier builds whose process is gone (interrupted) are removed.
stage_dir() {
  local dir=$1 old pid stage
  mkdir -p "$(dirname "$dir")"
  for old in "$dir".building.*; do
    [ -e "$old" ] || continue
    pid=${old#"$dir".building.}
    pid=${pid%%.*}
    kill -0 "$pid" 2>/dev/null || rm -rf "$old"
  done
  stage=$(mktemp -d "$dir.building.$$.XXXXXX")
  chmod 755 "$stage"
  printf '%s\n' "$stage"
}

# publish <stage> <dir> <note>: writes the stamp (with <note>, e.g. what was verified) into the
# stage, then puts the stage in place of <dir>.
publish() {
  local stage=$1 dir=$2 note=$3
  printf '%s\n' "$note" >"$stage/.built"
  rm -rf "$dir"
  mv -T "$stage" "$dir"
}

# go_module_version <binary> <module>: the version of <module> the binary was built from (its Go
# build info, `go version -m`).
go_module_version() {
  local info kind path version _
  info=$(go version -m "$1") || return 1
  while read -r kind path version _; do
    case $kind in mod | dep) [ "$path" != "$2" ] || { printf '%s\n' "$version"; return 0; } ;; esac
  done <<<"$info"
  return 1
}

# verify_go_binary <binary> <module> <version> <args...>: the binary was built from <module> at
# <version>, and it runs (`<binary> <args...>` exits 0, e.g. --version). Prints what it checked.
verify_go_binary() {
  local bin=$1 module=$2 want=$3 got out
  shift 3
  [ -x "$bin" ] || die "$bin was not built"
  got=$(go_module_version "$bin" "$module") || die "$bin: no $module in its Go build info (go version -m)"
  [ "$got" = "$want" ] || die "$bin was built from $module $got, expected $want"
  out=$("$bin" "$@" 2>&1) || die "$bin $* failed: $out"
  printf '%s: %s %s; %s %s: %s\n' "${bin##*/}" "$module" "$got" "${bin##*/}" "$*" "${out%%$'\n'*}"
}

# with_progress <what> <estimate> <command...>: runs the command and, while it runs, logs every
# $SANDBANK_PROGRESS_EVERY seconds (default 30) how long it has taken so far against <estimate>.
with_progress() {
  local what=$1 estimate=$2 every=${SANDBANK_PROGRESS_EVERY:-30} t0=$SECONDS ticker rc=0
  shift 2
  (
    trap 'kill "$s" 2>/dev/null; exit 0' TERM
    while :; do
      sleep "$every" &
      s=$!
      wait "$s"
      log "$what: still running, $((SECONDS - t0)) s so far (about $estimate cold on 2 cores)"
    done
  ) &
  ticker=$!
  "$@" || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  return "$rc"
}
