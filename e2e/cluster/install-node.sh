#!/usr/bin/env bash
# Fetches the pinned Node.js runtime (NODE_VERSION in versions.env) once per version into
# $SANDBANK_CACHE/node-<version>, and prints its bin dir on stdout (everything else goes to
# stderr), so a caller can put it first on PATH: PATH="$(bash e2e/cluster/install-node.sh):$PATH".
# The Makefile does that for every target; the images of the local cluster copy this binary too.
#
# Where from: the npm registry's node-linux-<arch> package, which carries the official build's
# bin/node; `npm pack` checks it against the registry's integrity hash. So the only prerequisite
# is the machine's own Node.js with npm (any version doctor.sh accepts), used for the download.
. "$(dirname "$0")/lib/common.sh"

out="$SANDBANK_CACHE/node-$NODE_VERSION"
if cached "$out" bin/node; then
  log "Node.js $NODE_VERSION: cached"
  printf '%s\n' "$out/bin"
  exit 0
fi

case $(uname -m) in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) die "no Node.js build for $(uname -m): install Node.js $NODE_VERSION yourself and put it first on PATH" ;;
esac
command -v npm >/dev/null ||
  die "npm is required to fetch Node.js $NODE_VERSION (install any Node.js >= $NODE_MIN_VERSION with its npm: https://nodejs.org/en/download)"

log "Node.js $NODE_VERSION: fetching node-linux-$arch@$NODE_VERSION from the npm registry (about 50 MB)"
stage=$(stage_dir "$out")
# shellcheck disable=SC2064 # the path is fixed now
trap "rm -rf '$stage'" EXIT
tarball=$(cd "$stage" && npm pack --silent "node-linux-$arch@$NODE_VERSION") ||
  die "npm pack node-linux-$arch@$NODE_VERSION failed (see above): is the npm registry reachable?"
mkdir -p "$stage/bin"
tar -xzf "$stage/$tarball" -C "$stage/bin" --strip-components=2 package/bin/node
rm -f "$stage/$tarball"
got=$("$stage/bin/node" --version) || die "the fetched node does not run on this machine"
[ "$got" = "v$NODE_VERSION" ] || die "the fetched node says $got, not v$NODE_VERSION"
publish "$stage" "$out" "node $got from node-linux-$arch@$NODE_VERSION"
trap - EXIT
log "Node.js $NODE_VERSION: done"
printf '%s\n' "$out/bin"
