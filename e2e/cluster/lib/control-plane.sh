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

# cmdline_has <pid> <text>: the process's command line contains <text>.
cmdline_has() {
  local cmdline
  cmdline=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$2"* ]]
}

# Stops one recorded process: SIGTERM, wait up to $2 seconds, then SIGKILL. The PID file is
# only trusted while the process still has the command line we started (PIDs get reused).
stop_pid_file() {
  local file=$1 grace=${2:-15} pid name
  [ -f "$file" ] || return 0
  pid=$(cat "$file"); name=$(basename "$file" .pid)
  if pid_alive "$pid" && cmdline_has "$pid" "$(dirname "$(dirname "$file")")"; then
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

# Components a state dir runs: kwok is left out when it was started with SANDBANK_CP_KWOK=0.
cp_components() { if [ -f "$1/no-kwok" ]; then echo "${CP_COMPONENTS% kwok}"; else echo "$CP_COMPONENTS"; fi; }

# --- PKI (openssl, P-256 keys; instant, unlike RSA). Writes into $PKI. -------------------------
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
# newca <name> <cn>
newca() {
  newkey "$PKI/$1.key"
  openssl req -x509 -new -key "$PKI/$1.key" -subj "/CN=$2" -days 3650 -out "$PKI/$1.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,digitalSignature,keyCertSign" 2>/dev/null
}
# newcert <ca> <name> <subject> <extendedKeyUsage> [subjectAltName]
newcert() {
  local ca=$1 n=$2 subj=$3 eku=$4 san=${5:-}
  newkey "$PKI/$n.key"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [ -z "$san" ] || echo "subjectAltName=$san"
  } >"$PKI/$n.ext"
  openssl req -new -key "$PKI/$n.key" -subj "$subj" 2>/dev/null |
    openssl x509 -req -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" -CAcreateserial -days 365 \
      -extfile "$PKI/$n.ext" -out "$PKI/$n.crt" 2>/dev/null
  rm -f "$PKI/$n.ext"
  chmod 600 "$PKI/$n.key"
}

# Ask the kernel for $1 ports at once (sockets held open together, so no duplicates), free on
# every address (bound to 0.0.0.0 without listening).
free_ports() {
  if command -v python3 >/dev/null; then
    python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("0.0.0.0", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
  else
    node -e '
const net = require("net"); const n = +process.argv[1]; const ports = [];
const next = () => { if (ports.length === n) { console.log(ports.map((s) => s.address().port).join(" ")); ports.forEach((s) => s.close()); return; }
  const s = net.createServer().listen(0, "127.0.0.1", () => { ports.push(s); next(); }); };
next();' "$1"
  fi
}

# port_in_use <port>: something listens on it (any address).
port_in_use() {
  local listening
  listening=$(ss -Hltn "sport = :$1") && [ -n "$listening" ]
}

b64() { base64 -w0 <"$1"; }
# kubeconfig <file> <cert-name>: for $SERVER, certificates (from $PKI) embedded, so the file stands alone.
kubeconfig() {
  cat >"$1" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: sandbank
  cluster:
    server: $SERVER
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(b64 "$PKI/$2.crt")
    client-key-data: $(b64 "$PKI/$2.key")
contexts:
- name: sandbank
  context: { cluster: sandbank, user: $2 }
current-context: sandbank
KUBECONFIG
  chmod 600 "$1"
}

# --- processes ---------------------------------------------------------------------------------
# start <name> <command...>: in the background, stdio to $STATE/logs/<name>.log, PID to
# $STATE/pids/<name>.pid.
start() {
  local name=$1 state=${STATE:?}
  shift
  "$@" >"$state/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$state/pids/$name.pid"
  log "  $name: pid $!, log $state/logs/$name.log"
}
# check_alive: fails (the caller's EXIT trap prints the log tail) as soon as a started component
# has exited: those in $ALIVE_COMPONENTS, by default the control-plane components of $STATE.
check_alive() {
  local c pid
  for c in ${ALIVE_COMPONENTS:-$CP_COMPONENTS}; do
    pid=$(recorded_pid "$STATE" "$c")
    [ -z "$pid" ] || pid_alive "$pid" || die "$c (pid $pid) exited"
  done
}
# wait_until <what> <timeout-s> <command...>
wait_until() {
  local what=$1 deadline=$((SECONDS + $2)); shift 2
  until "$@" >/dev/null 2>&1; do
    check_alive
    [ "$SECONDS" -lt "$deadline" ] || die "timed out waiting for $what"
    sleep 0.1
  done
}
port_open() { (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; }
