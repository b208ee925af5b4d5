# shellcheck shell=bash disable=SC2034
# Shared by control-plane-up.sh and control-plane-down.sh. Source it after lib/common.sh.

# Every state dir we create carries this marker; nothing else is ever deleted or reused.
CP_MARKER=.sandbank-control-plane
# Processes in start order; down stops them in reverse.
CP_COMPONENTS="etcd kube-apiserver kube-controller-manager kube-scheduler kwok"

ETCD_BIN=$SANDBANK_CACHE/etcd-$ETCD_VERSION/bin/etcd
K8S_BIN=$SANDBANK_CACHE/kubernetes-$KUBERNETES_VERSION/bin
KWOK_DIR=$SANDBANK_CACHE/kwok-$KWOK_VERSION
KUBECTL=$K8S_BIN/kubectl

# Absolute path of a (possibly not yet existing) directory.
abs_dir() { case $1 in /*) printf '%s\n' "${1%/}" ;; *) printf '%s/%s\n' "$PWD" "${1%/}" ;; esac; }

# A zombie counts as gone: once the up script has exited, our daemons are children of PID 1,
# which (in containers) may be slow to reap them.
pid_alive() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# PID recorded for a component in the state dir, or nothing.
recorded_pid() { cat "$1/pids/$2.pid" 2>/dev/null || true; }

# Stops one recorded process: SIGTERM, wait up to $2 seconds, then SIGKILL. The PID file is
# only trusted while the process still has the command line we started (PIDs get reused).
stop_pid_file() {
  local file=$1 grace=${2:-15} pid name
  [ -f "$file" ] || return 0
  pid=$(cat "$file"); name=$(basename "$file" .pid)
  if pid_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$(dirname "$(dirname "$file")")"; then
    kill -TERM "$pid" 2>/dev/null || true
    local waited=0
    while pid_alive "$pid" && [ "$waited" -lt $((grace * 10)) ]; do sleep 0.1; waited=$((waited + 1)); done
    if pid_alive "$pid"; then
      log "  $name (pid $pid) ignored SIGTERM for ${grace}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      while pid_alive "$pid"; do sleep 0.1; done
    fi
    log "  $name (pid $pid) stopped"
  fi
  rm -f "$file"
}

# Stops the watchdog (if any) and every component, last started first.
stop_all() {
  local state=$1 c
  [ "${SANDBANK_CP_IS_WATCHDOG:-}" = 1 ] || stop_pid_file "$state/pids/watchdog.pid" 5
  for c in $(echo "$CP_COMPONENTS" | tr ' ' '\n' | tac); do stop_pid_file "$state/pids/$c.pid" 15; done
}
