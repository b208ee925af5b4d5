#!/usr/bin/env bash
# What a newcomer does, on this machine: a fresh `git clone` of this repository's HEAD into a temp
# dir, empty caches (SANDBANK_CACHE, Go's module and build caches, npm's and pip's caches, all in
# the temp dir: a newcomer has an empty ~/go and ~/.cache too), then `make up`, `make down`,
# `make test` in the clone. Prints the wall time of each step and a summary; stops at the first
# step that fails. The temp dir is removed at the end (--keep keeps it); after a failure the logs
# are kept (the path is printed).
# Not reproduced: Debian packages and toolchains already installed on this machine stay installed
# (make doctor lists what a fresh machine lacks). Needs root and the machine's one local cluster:
# no other cluster may run meanwhile (make doctor checks).
#
# Usage: cold-run.sh [--load] [--keep] [--dir <parent>] [--targets "<make targets>"] [--quiet]
#   --load      keep every core busy for the whole run (stress-ng --cpu <nproc>, Debian's
#               stress-ng, installed when missing), stopped on exit
#   --keep      keep the temp dir (clone, caches, logs)
#   --dir       where to make the temp dir (default: $TMPDIR or /var/tmp; it needs about 15 GiB)
#   --targets   the make targets to run, in order (default "up down test"); e.g. --targets help
#               checks the clone/step/timing machinery in seconds
#   --quiet     step output only into the logs (default: also on the terminal)
# Exit: 0 when every step passed; otherwise the status of the first step that failed.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)

LOAD=0 KEEP=0 QUIET=0
PARENT=${TMPDIR:-/var/tmp}
TARGETS="up down test"
while [ $# -gt 0 ]; do
  case $1 in
    --load) LOAD=1 ;;
    --keep) KEEP=1 ;;
    --quiet) QUIET=1 ;;
    --dir) PARENT=${2:?--dir needs a directory}; shift ;;
    --targets) TARGETS=${2:?--targets needs make targets}; shift ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "cold-run: unknown option $1 (--help)" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '[cold-run %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fmt_secs() { awk -v s="$1" 'BEGIN { s = int(s + 0.5); if (s >= 60) printf "%d min %02d s", s / 60, s % 60; else printf "%d s", s }'; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

read -ra targets <<<"$TARGETS"
[ ${#targets[@]} -gt 0 ] || { echo "cold-run: no make targets" >&2; exit 2; }
head_rev=$(git -C "$REPO" rev-parse HEAD)
dirty=$(git -C "$REPO" status --porcelain --untracked-files=no)
mkdir -p "$PARENT"
TMP=$(mktemp -d "$PARENT/sandbank-cold-run.XXXXXX")
LOGS=$TMP/logs
mkdir -p "$LOGS"

# --- a newcomer's environment: every cache empty, under $TMP ----------------------------------
export SANDBANK_CACHE=$TMP/cache
export GOPATH=$TMP/go GOMODCACHE=$TMP/go/pkg/mod GOCACHE=$TMP/go-build
export npm_config_cache=$TMP/npm-cache PIP_CACHE_DIR=$TMP/pip-cache XDG_CACHE_HOME=$TMP/xdg-cache
# the Makefile derives CLUSTER_STATE from SANDBANK_CACHE; an outer make's value must not leak in
unset CLUSTER_STATE SANDBANK_CLUSTER_STATE MAKEFLAGS MAKELEVEL
STATE=$SANDBANK_CACHE/cluster-state

STRESS_PID=""
results=()
T_ALL=$EPOCHREALTIME
failed_rc=0

# Anything of the cluster still under $TMP (processes, mounts) means it must not be deleted.
cluster_left() {
  [ -f "$STATE/.sandbank-cluster" ] && return 0
  grep -qF " $TMP/" /proc/self/mountinfo
}
cleanup() {
  local rc=$?
  set +e # every cleanup step runs
  [ "$failed_rc" != 0 ] && rc=$failed_rc
  # the cluster's own logs, before a make down below removes its state dir
  [ "$rc" = 0 ] || [ ! -d "$STATE/logs" ] || cp -a "$STATE/logs" "$LOGS/cluster-state-logs"
  if [ -n "$STRESS_PID" ]; then
    kill "$STRESS_PID" 2>/dev/null || true
    wait "$STRESS_PID" 2>/dev/null || true
    say "load stopped (stress-ng pid $STRESS_PID)"
  fi
  if [ -d "$TMP/repo" ] && cluster_left; then
    say "a cluster of this run is still up: make down in the clone"
    (cd "$TMP/repo" && make down) >>"$LOGS/cleanup-down.log" 2>&1 || say "make down failed (log: $LOGS/cleanup-down.log)"
  fi
  if [ "$KEEP" = 1 ]; then
    say "kept $TMP (clone in repo/, caches, logs in logs/)"
  elif cluster_left; then
    say "NOT removing $TMP: something of the cluster is still there (mounts or state); check with e2e/cluster/verify-clean.sh $STATE"
  elif [ "$rc" != 0 ]; then
    local keep
    keep=$(mktemp -d "$PARENT/sandbank-cold-run-logs.XXXXXX")
    cp -a "$LOGS/." "$keep/"
    chmod -R u+w "$TMP" 2>/dev/null # Go's module cache is read-only
    rm -rf "$TMP"
    say "logs kept in $keep"
  else
    chmod -R u+w "$TMP" 2>/dev/null
    rm -rf "$TMP"
    say "removed $TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "repository $REPO at ${head_rev:0:12}; temp dir $TMP"
[ -z "$dirty" ] || say "note: the working tree has uncommitted changes; the clone has only what HEAD has"
say "caches: SANDBANK_CACHE=$SANDBANK_CACHE GOMODCACHE=$GOMODCACHE GOCACHE=$GOCACHE npm_config_cache=$npm_config_cache"

if [ "$LOAD" = 1 ]; then
  if ! command -v stress-ng >/dev/null; then
    [ "$(id -u)" = 0 ] || { say "stress-ng is missing: apt-get install stress-ng"; exit 1; }
    say "installing stress-ng (apt)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends stress-ng >"$LOGS/stress-ng-install.log" 2>&1 ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends stress-ng; } >>"$LOGS/stress-ng-install.log" 2>&1 ||
      { say "could not install stress-ng (log: $LOGS/stress-ng-install.log)"; exit 1; }
  fi
  cpus=$(nproc)
  stress-ng --cpu "$cpus" --timeout 0 >"$LOGS/stress-ng.log" 2>&1 &
  STRESS_PID=$!
  say "load: stress-ng --cpu $cpus (pid $STRESS_PID) for the whole run"
fi

# step <name> <command...>: runs it in $STEP_DIR, output to logs/<name>.log (and the terminal),
# records its wall time; on failure stops the run with its status.
step() {
  local name=$1 t0 rc=0 secs
  shift
  say "== $name: $*"
  t0=$EPOCHREALTIME
  if [ "$QUIET" = 1 ]; then
    (cd "$STEP_DIR" && "$@") >"$LOGS/$name.log" 2>&1 || rc=$?
  else
    # tee reads to the end: it cannot stop the writer early
    (cd "$STEP_DIR" && "$@") 2>&1 | tee "$LOGS/$name.log" || rc=$?
  fi
  secs=$(since "$t0")
  if [ "$rc" = 0 ]; then
    results+=("$(printf '%-22s %-10s %s' "$name" ok "$(fmt_secs "$secs")")")
    say "== $name: ok in $(fmt_secs "$secs")"
    return 0
  fi
  results+=("$(printf '%-22s %-10s %s' "$name" "FAILED($rc)" "$(fmt_secs "$secs")")")
  say "== $name: FAILED (status $rc) after $(fmt_secs "$secs"); last lines of $LOGS/$name.log:"
  tail -n 30 "$LOGS/$name.log" >&2 || true
  summary
  failed_rc=$rc
  exit "$rc"
}

summary() {
  printf '\ncold run of %s (%s%s), %s cores:\n' "${head_rev:0:12}" "$(date -u +%F)" \
    "$([ "$LOAD" = 1 ] && echo ", under stress-ng --cpu $(nproc)")" "$(nproc)" >&2
  printf '  %s\n' "${results[@]}" >&2
  printf '  %-22s %-10s %s\n' total "" "$(fmt_secs "$(since "$T_ALL")")" >&2
}

STEP_DIR=$TMP
step clone git clone --quiet --no-hardlinks "$REPO" "$TMP/repo"
git -C "$TMP/repo" checkout --quiet --detach "$head_rev"
STEP_DIR=$TMP/repo
for t in "${targets[@]}"; do step "make-$t" make "$t"; done
summary
