#!/usr/bin/env bash
# Builds Sandbank's three images (controller, router, runtime) for the local cluster from their
# Dockerfiles (the root Dockerfile with PROCESS=controller|router, runtime-image/Dockerfile),
# without Docker, a registry or npm inside the build. Each Dockerfile takes three images as build
# args; this script makes them here instead of pulling them:
#   BASE_IMAGE   the debootstrap base of build-node.sh (localhost/debian-base:<suite>-<date>)
#   NODE_IMAGE   localhost/sandbank-node:<version>: the host's `node` (>= 20) at /usr/local/bin/node
#   BUNDLE_FROM  localhost/sandbank-<name>-bundle:<hash>: /out/<name>.mjs and the programs
#                bundled beside it (webhook.mjs, ws-echo.mjs), bundled on the host by
#                runtime-image/scripts/bundle.mjs (esbuild, from the working tree)
# then build-image.sh builds each Dockerfile with an empty context (the local path uses none, so
# a change elsewhere in the repo never rebuilds an image) and caches the OCI archive by a hash
# that covers the bundle, the Dockerfile and the args.
# Usage: build-sandbank-images.sh [controller|router|runtime]...   (default: all three)
# Stdout: one archive path per image (for load-images.sh). Progress goes to stderr.
. "$(dirname "$0")/lib/common.sh"
. "$CLUSTER_DIR/lib/node.sh"

REPO=$(cd "$CLUSTER_DIR/../.." && pwd)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(controller router runtime)
command -v buildah >/dev/null || die "buildah is missing (make node-build installs it)"
# The images carry the pinned Node.js (versions.env), whatever node the caller has.
PATH="$(bash "$CLUSTER_DIR/install-node.sh"):$PATH"
node_version=$(node --version)
[ -d "$REPO/node_modules/esbuild" ] || die "esbuild is missing: run make install (npm install) first"
T0=$EPOCHREALTIME

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/context"

if ! buildah_ inspect --type image "$DEBIAN_BASE_IMAGE" >/dev/null 2>&1; then
  log "base image $DEBIAN_BASE_IMAGE missing: building it"
  bash "$CLUSTER_DIR/build-node.sh" base
fi

# Node: the pinned official build links only glibc, libstdc++ and libgcc, which the debootstrap
# base has.
node_image=localhost/sandbank-node:$node_version
if ! buildah_ inspect --type image "$node_image" >/dev/null 2>&1; then
  log "image $node_image from $(command -v node)"
  c=$(buildah_ from scratch)
  buildah_ copy --chmod 0755 "$c" "$(command -v node)" /usr/local/bin/node >/dev/null
  buildah_ commit -q "$c" "$node_image" >/dev/null
  buildah_ rm "$c" >/dev/null
fi

# A bundle image per process, tagged by the bundle's content hash: the tag is a build arg, so it
# is part of the archive's cache key.
bundle_image() { # <bundle name> -> image ref on stdout
  local name=$1 out=$work/$1/out hash ref old
  mkdir -p "$out"
  node "$REPO/runtime-image/scripts/bundle.mjs" "$out/$name.mjs" --process "$name" >&2 || die "bundling $name failed"
  hash=$( (cd "$out" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16)
  ref=localhost/sandbank-$name-bundle:$hash
  if ! buildah_ inspect --type image "$ref" >/dev/null 2>&1; then
    c=$(buildah_ from scratch)
    buildah_ copy "$c" "$out" /out >/dev/null
    buildah_ commit -q "$c" "$ref" >/dev/null
    buildah_ rm "$c" >/dev/null
    # superseded bundles of the same process
    for old in $(buildah_ images --format '{{.Name}}:{{.Tag}}' "localhost/sandbank-$name-bundle" 2>/dev/null); do
      [ "$old" = "$ref" ] || buildah_ rmi "$old" >/dev/null 2>&1 || true
    done
  fi
  echo "$ref"
}

for name in "${names[@]}"; do
  case $name in
    controller | router) dockerfile=$REPO/Dockerfile bundle=$name process_arg=(--build-arg "PROCESS=$name") ;;
    runtime) dockerfile=$REPO/runtime-image/Dockerfile bundle=agent process_arg=() ;;
    *) die "unknown image $name (controller, router or runtime)" ;;
  esac
  T1=$EPOCHREALTIME
  log "$name: bundling on the host"
  from=$(bundle_image "$bundle")
  log "$name: bundle $from ($(awk -v a="$T1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }'))"
  bash "$CLUSTER_DIR/build-image.sh" "localhost/sandbank-$name:local" "$dockerfile" "$work/context" \
    --build-arg "NODE_IMAGE=$node_image" --build-arg "BUNDLE_FROM=$from" "${process_arg[@]}" ||
    die "building the $name image failed"
done
log "images ${names[*]} in $(since "$T0")"
