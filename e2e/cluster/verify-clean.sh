#!/usr/bin/env bash
# Checks that cluster-down.sh left the machine as it was before cluster-up.sh: no process of the
# state dir, no link, route, netns, mount, cgroup dir, iptables/ip6tables chain or rule, ipset,
# host path or sysctl of the cluster. Compares with <state-dir>/baseline (written by up, kept by
# down) where it can; without a baseline it looks for anything the cluster would have made.
# Usage: verify-clean.sh <state-dir>
# Exit:  0 clean; 1 with one line per leftover on stdout ("LEFTOVER …"), or per check whose tool
#        failed ("CANNOT VERIFY …": a tool that cannot answer never counts as clean).
. "$(dirname "$0")/lib/common.sh"
. "$CLUSTER_DIR/lib/whole-cluster.sh"
set +e

state_dir_arg "$@"
B=$STATE/baseline
SOCK=$STATE/containerd/containerd.sock
leftovers=0
leftover() { echo "LEFTOVER $*"; leftovers=$((leftovers + 1)); }
note() { echo "note     $*"; }
unverified=0
cannot_verify() { echo "CANNOT VERIFY $*"; unverified=$((unverified + 1)); }
# run_tool <command...>: the command's stdout in $TOOL_OUT; on failure "CANNOT VERIFY" with its
# stderr, and a non-zero status.
run_tool() {
  local err rc=0
  err=$(mktemp)
  TOOL_OUT=$("$@" 2>"$err") || rc=$?
  [ "$rc" = 0 ] || cannot_verify "$* failed (exit $rc): $(tr '\n' ' ' <"$err")"
  rm -f "$err"
  return "$rc"
}
# have_tool <command> <what it checks>: a missing tool cannot verify what `up` may have made with
# it; only without a baseline (no `up` in this state dir) is its absence just noted.
have_tool() {
  command -v "$1" >/dev/null && return 0
  if [ -d "$B" ]; then cannot_verify "$2: $1 is not installed"; else note "$1 is not installed: no $2 to check"; fi
  return 1
}
in_baseline() { [ -f "$B/$1" ] && grep -qxF -- "$2" "$B/$1"; }
[ -d "$B" ] || note "no baseline in $B: checking for anything the cluster makes"
ours_pattern='KUBE-|CNI-|sandbank|10\.244\.|10\.96\.|sbk-'

# processes: anything running from the state dir, shims on our socket, gVisor under our root
procs_pattern="$STATE/|-address $SOCK"
for p in /proc/[0-9]*; do
  p=${p#/proc/}
  [ "$p" = $$ ] && continue
  cmd=$({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null) || continue
  case $cmd in *verify-clean.sh*) continue ;; esac
  if [[ $cmd =~ $procs_pattern ]]; then
    stat=$(cat "/proc/$p/stat" 2>/dev/null); stat=${stat##*) }
    [ "${stat%% *}" = Z ] && continue
    leftover "process $p: ${cmd:0:160}"
  fi
done
# links and routes (the pod bridge, its veths, the Service sink and the routes of both ranges)
if run_tool ip -o link show; then
  while read -r _ l rest; do
    l=${l%:}; l=${l%@*}
    case " $rest " in *" master $CNI_BRIDGE "*) leftover "link $l (on $CNI_BRIDGE)"; continue ;; esac
    case $l in "$CNI_BRIDGE" | "$SVC_SINK") leftover "link $l" ;; esac
  done <<<"$TOOL_OUT"
fi
if run_tool ip -4 route show; then
  while read -r r; do
    case $r in 10.244.* | 10.96.*) leftover "route $r" ;; esac
  done <<<"$TOOL_OUT"
fi
# the network guard (nft table of lib/netguard.sh)
if have_tool nft "network guard (nft table $NETGUARD_FAMILY $NETGUARD_TABLE)"; then
  if guard=$(netguard_state 2>&1); then
    [ "$guard" = absent ] || leftover "nft table $NETGUARD_FAMILY $NETGUARD_TABLE"
  else
    cannot_verify "nft table $NETGUARD_FAMILY $NETGUARD_TABLE: ${guard#*] }"
  fi
fi
# network namespaces (pod netns are cni-*)
for ns in /run/netns/cni-*; do
  [ -e "$ns" ] || continue
  in_baseline netns "${ns#/run/netns/}" || leftover "netns $ns"
done
# mounts
while read -r m; do leftover "mount $m"; done < <(awk -v s="$STATE" 'index($5, s) == 1 { print $5 }' /proc/self/mountinfo)
if [ -f "$B/host-paths" ] && ! in_baseline host-paths /run/netns && grep -q ' /run/netns ' /proc/self/mountinfo; then
  leftover "mount /run/netns (not there before up)"
fi
# cgroup dirs
while read -r d; do
  in_baseline cgroups "$d" || leftover "cgroup $d"
done < <(find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d \( -name 'kubepods*' -o -name k8s.io \) 2>/dev/null)
# iptables / ip6tables: every chain or rule that was not there before (counters ignored)
norm() { sed -E '/^#/d; s/\[[0-9]+:[0-9]+\]//; s/ +$//'; }
for ipt in iptables ip6tables; do
  have_tool "$ipt-save" "$ipt rules" || continue
  run_tool "$ipt-save" || continue
  now=$(norm <<<"$TOOL_OUT")
  if [ -s "$B/$ipt" ]; then
    before=$(norm <"$B/$ipt")
    while read -r line; do
      [ -n "$line" ] || continue
      case $line in \*[a-z]* | COMMIT) continue ;; esac
      if [[ $line =~ $ours_pattern ]]; then
        leftover "$ipt: $line"
      elif [[ $line =~ ^:(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING)\ ACCEPT$ ]]; then
        note "$ipt: empty built-in chain $line (iptables-nft keeps a table it registered; no rule in it)"
      else
        note "$ipt differs (not ours?): $line"
      fi
    done < <(comm -13 <(printf '%s\n' "$before" | sort -u) <(printf '%s\n' "$now" | sort -u))
  else
    while read -r line; do leftover "$ipt: $line"; done < <(printf '%s\n' "$now" | grep -E -- "$ours_pattern")
  fi
done
# ipsets (kube-router)
sets=""
if have_tool ipset ipsets && run_tool ipset list -n; then sets=$TOOL_OUT; fi
for s in $sets; do
  in_baseline ipsets "$s" && continue
  case $s in KUBE-* | kube-* | inet6:*) leftover "ipset $s" ;; *) note "ipset $s (not in baseline; not ours?)" ;; esac
done
# host paths written outside the state dir
for p in $NODE_HOST_PATHS; do
  [ -e "$p" ] || continue
  in_baseline host-paths "$p" && continue
  [ -f "$B/host-paths" ] || case $p in /run/netns) continue ;; esac
  if [ "$p" = /run/containerd ] && pgrep -x containerd >/dev/null; then
    note "/run/containerd exists, but another containerd (pid $(pgrep -x containerd | tr '\n' ' ')) runs"
    [ -n "$(ls -A /run/containerd/runc/k8s.io 2>/dev/null)" ] && leftover "/run/containerd/runc/k8s.io not empty"
    continue
  fi
  leftover "path $p (not there before up)"
done
while read -r l; do leftover "log link $l"; done < <(find /var/log/containers -maxdepth 1 -type l -lname "$STATE/*" 2>/dev/null)
[ -e /var/lib/kubelet/device-plugins/kubelet.sock ] && ! in_baseline host-paths /var/lib/kubelet && leftover "/var/lib/kubelet/device-plugins/kubelet.sock"
ls /var/lib/cni/results/"$CNI_NETWORK"-* >/dev/null 2>&1 && leftover "CNI results /var/lib/cni/results/$CNI_NETWORK-*"
# sysctls
if [ -f "$B/sysctl" ]; then
  while IFS='=' read -r k v; do
    now=$(sysctl -n "$k" 2>/dev/null)
    [ "$now" = "$v" ] || leftover "sysctl $k = $now (was $v)"
  done <"$B/sysctl"
fi
# the state dir itself: only baseline/ may remain
if [ -d "$STATE" ]; then
  rest=$(find "$STATE" -mindepth 1 -maxdepth 1 ! -name baseline -printf '%p ')
  [ -z "$rest" ] || leftover "files in $STATE: ${rest% }"
fi

if [ "$leftovers" = 0 ] && [ "$unverified" = 0 ]; then
  echo "clean: nothing of the cluster in $STATE is left on this machine"
  exit 0
fi
echo "$leftovers leftover(s), $unverified check(s) that could not run"
exit 1
