# shellcheck shell=bash
# The network guard of the local cluster: the drops that keep pod traffic on this machine, in an
# nftables table of our own (cluster-up.sh adds it before anything can start a pod,
# cluster-down.sh removes it, verify-clean.sh checks it is gone, smoke.sh tests it by sending
# packets). Source it after lib/common.sh and lib/node.sh.
#
# Why a table of our own rather than rules in iptables' FORWARD: kube-proxy and kube-router own
# filter FORWARD and rewrite it on their syncs (each puts its jump first, and those chains accept
# traffic), so a drop there holds only while it stays above their accepts, i.e. until the next
# sync. nftables runs every base chain hooked at forward on its own, in priority order: an accept
# ends only the chain it is in, a drop anywhere is final. A drop in a base chain of a table
# nobody else writes therefore holds whatever the daemons do to theirs, in any order and after
# any resync. iptables-nft keeps to its own tables (filter, mangle, …) and never lists or touches
# this one; kube-proxy's nftables cleanup only deletes its own `kube-proxy` tables.
#
# Rules (IPv4 by address, both families by link):
#   forward, before every other table (priority -300):
#     - a packet that comes from the pod bridge is only forwarded back onto it (pod -> pod, and
#       pod -> ClusterIP -> pod, which kube-proxy translates before forwarding);
#     - nothing from another link is forwarded onto the pod bridge;
#     - the same by address: pod range -> elsewhere and elsewhere -> pod range, whatever the link.
#   postrouting, after NAT (priority 300): a packet to the pod range leaves only through the pod
#     bridge (or lo: the bridge's own address), one to the Service range only through the Service
#     sink ($SVC_SINK, a bridge without ports that ClusterIPs nobody translated are routed to), so
#     even a lost route cannot send them out of the machine.
# Each drop counts into a named counter (pods_out, into_pods, ranges_out): smoke.sh reads them.

NETGUARD_FAMILY=inet
NETGUARD_TABLE=sandbank

netguard_ruleset() {
  cat <<EOF
table $NETGUARD_FAMILY $NETGUARD_TABLE {
  counter pods_out {}
  counter into_pods {}
  counter ranges_out {}
  chain forward {
    type filter hook forward priority -300; policy accept;
    iifname "$CNI_BRIDGE" oifname != "$CNI_BRIDGE" counter name pods_out drop
    ip saddr $POD_CIDR ip daddr != $POD_CIDR counter name pods_out drop
    oifname "$CNI_BRIDGE" iifname != "$CNI_BRIDGE" counter name into_pods drop
    ip daddr $POD_CIDR ip saddr != $POD_CIDR counter name into_pods drop
  }
  chain postrouting {
    type filter hook postrouting priority 300; policy accept;
    ip daddr $POD_CIDR oifname != { "$CNI_BRIDGE", "lo" } counter name ranges_out drop
    ip daddr $SERVICE_CIDR oifname != "$SVC_SINK" counter name ranges_out drop
  }
}
EOF
}
# Drops per chain that netguard_check expects (the rules above).
NETGUARD_FORWARD_DROPS=4
NETGUARD_POSTROUTING_DROPS=2

# Prints "present" or "absent"; fails, saying why, when nft cannot tell (never guesses "absent").
netguard_state() { nft_table_state "$NETGUARD_FAMILY" "$NETGUARD_TABLE"; }
nft_table_state() { # <family> <table>
  local tables
  command -v nft >/dev/null || { log "nft is not installed (Debian package nftables)"; return 1; }
  tables=$(nft list tables 2>&1) || { log "nft list tables failed: $tables"; return 1; }
  case $'\n'$tables$'\n' in
    *$'\n'"table $1 $2"$'\n'*) echo present ;;
    *) echo absent ;;
  esac
}

# Adds the table (in one transaction: all rules or none). Fails if it exists already.
netguard_up() {
  local state
  state=$(netguard_state) || return 1
  [ "$state" = absent ] || { log "nft table $NETGUARD_FAMILY $NETGUARD_TABLE exists already"; return 1; }
  netguard_ruleset | nft -f -
}

# Removes the table if it is there.
netguard_down() {
  local state
  state=$(netguard_state) || return 1
  [ "$state" = present ] || return 0
  nft delete table "$NETGUARD_FAMILY" "$NETGUARD_TABLE"
}

# Succeeds when the table is in place with its chains and every drop of netguard_ruleset.
netguard_check() {
  local json counts
  json=$(nft -j list table "$NETGUARD_FAMILY" "$NETGUARD_TABLE" 2>&1) || { log "nft: $json"; return 1; }
  counts=$(jq -r '[.nftables[] | .rule? // empty | select(any(.expr[]; has("drop"))) | .chain]
      | "\(map(select(. == "forward")) | length) \(map(select(. == "postrouting")) | length)"' <<<"$json") ||
    return 1
  [ "$counts" = "$NETGUARD_FORWARD_DROPS $NETGUARD_POSTROUTING_DROPS" ] ||
    { log "nft table $NETGUARD_FAMILY $NETGUARD_TABLE: drops (forward postrouting) are $counts, expected $NETGUARD_FORWARD_DROPS $NETGUARD_POSTROUTING_DROPS"; return 1; }
}

# Prints the packets a named counter of the table has counted.
netguard_packets() { # <counter>
  nft_counter_packets "$NETGUARD_FAMILY" "$NETGUARD_TABLE" "$1"
}
nft_counter_packets() { # <family> <table> <counter>
  local json
  json=$(nft -j list counter "$1" "$2" "$3" 2>&1) || { log "nft: $json"; return 1; }
  jq -er '[.nftables[] | .counter? // empty | .packets] | if length == 1 then .[0] else error("no counter") end' <<<"$json"
}
