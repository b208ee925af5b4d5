#!/usr/bin/env bash
# Builds e2e/upstream-go: a small program that drives upstream agent-sandbox's own Go client
# (sigs.k8s.io/agent-sandbox/clients/go/sandbox, the version pinned in e2e/upstream-go/go.mod),
# unchanged, through its basic flow against Sandbank (#18).
#   -> $SANDBANK_CACHE/upstream-go-<agent-sandbox version>-<source digest>/bin/upstream-go
# The directory is keyed by the pinned version and a digest of go.mod, go.sum and main.go, so an
# edit or a version bump builds once and an unchanged tree is a cache hit (offline too). Modules
# come from the module proxy into Go's own module cache (lib/common.sh go_env: GOMODCACHE/GOCACHE
# stay where `go env` puts them unless set), and only as go.sum pins them: -mod=readonly refuses
# to change go.mod or go.sum. Built in a temp dir, checked (its Go build info names the pinned
# version, the binary runs), stamped and renamed into place, as build-node.sh does.
# Usage: build-upstream-go.sh        prints the binary's path on stdout (progress on stderr)
. "$(dirname "$0")/lib/common.sh"

SRC=$(cd "$CLUSTER_DIR/../upstream-go" && pwd)
MODULE=sigs.k8s.io/agent-sandbox

command -v go >/dev/null || die "Go >= $GO_MIN_VERSION is required to build $SRC (https://go.dev/dl)"
gov=$(go env GOVERSION)
version_ge "$gov" "$GO_MIN_VERSION" || die "Go >= $GO_MIN_VERSION is required to build $SRC; found $gov"

# The pinned version, read from go.mod so there is one place to bump it.
want=$(awk -v m="$MODULE" '($1 == m || ($1 == "require" && $2 == m)) { print $NF }' "$SRC/go.mod")
[ -n "$want" ] || die "$SRC/go.mod does not require $MODULE"
[ -s "$SRC/go.sum" ] || die "$SRC/go.sum is missing: the build only uses checksums checked into the repository"
digest=$(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" | sha256sum)
OUT_DIR=$SANDBANK_CACHE/upstream-go-$want-${digest:0:12}

if cached "$OUT_DIR" bin/upstream-go; then
  log "upstream-go ($MODULE $want): cached"
  printf '%s\n' "$OUT_DIR/bin/upstream-go"
  exit 0
fi

go_env
export GOFLAGS="-mod=readonly $GOFLAGS"
t0=$EPOCHREALTIME
log "upstream-go ($MODULE $want): building with $gov (about 4 min cold on 2 busy cores, module downloads of client-go included)"
stage=$(stage_dir "$OUT_DIR")
# shellcheck disable=SC2064 # the path is fixed now
trap "rm -rf '$stage'" EXIT
(cd "$SRC" &&
  with_progress "upstream-go: go mod download" "1 min" go mod download &&
  with_progress "upstream-go: go build" "3 min" \
    go build -trimpath -ldflags "-s -w" -o "$stage/bin/upstream-go" .) ||
  die "building $SRC failed (offline without a module cache? go.sum out of date? run 'go mod tidy' there and commit go.sum)"
check=$(verify_go_binary "$stage/bin/upstream-go" "$MODULE" "$want" -h)
log "  $check"
publish "$stage" "$OUT_DIR" "$check"
trap - EXIT
# Builds of other versions or sources are superseded (temp dirs of running builds are left alone).
for old in "$SANDBANK_CACHE"/upstream-go-*; do
  case $old in "$OUT_DIR" | *.building.*) ;; *) rm -rf "$old" ;; esac
done
log "upstream-go: done in $(since "$t0")"
printf '%s\n' "$OUT_DIR/bin/upstream-go"
