#!/usr/bin/env bash
# Builds a container image from a Dockerfile without Docker or a registry: buildah bud with
# --isolation chroot and the vfs storage driver (private storage under $SANDBANK_CACHE/buildah), on
# the debootstrap base of build-node.sh, passed as build arg BASE_IMAGE (the Dockerfile starts
# with `ARG BASE_IMAGE=<registry default>` / `FROM ${BASE_IMAGE}`, so the same file serves registry
# builds). Exports an OCI archive, cached by a content hash of Dockerfile + context + base + args.
# Usage: build-image.sh <name[:tag]> <dockerfile> <context> [--build-arg K=V]...
#        tag defaults to "local"; e.g. build-image.sh localhost/sandbank-router:dev Dockerfile . --build-arg PROCESS=router
# Stdout: the archive path (for load-images.sh). Progress goes to stderr.
. "$(dirname "$0")/lib/common.sh"
. "$CLUSTER_DIR/lib/node.sh"

[ $# -ge 3 ] || die "usage: $0 <name[:tag]> <dockerfile> <context> [--build-arg K=V]..."
name=$1 dockerfile=$2 context=$3; shift 3
extra=("$@")
case ${name##*/} in *:*) ref=$name ;; *) ref=$name:local ;; esac
[ -f "$dockerfile" ] || die "no Dockerfile at $dockerfile"
[ -d "$context" ] || die "no build context at $context"
command -v buildah >/dev/null || die "buildah is missing: run e2e/cluster/build-node.sh apt"
context=$(cd "$context" && pwd)
T0=$EPOCHREALTIME

# --- content hash ------------------------------------------------------------------------------
# Files of the context: in a git work tree the tracked and untracked-but-not-ignored ones (so
# node_modules, dist and the like do not count), otherwise every file.
list_files() {
  if git -C "$context" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$context" ls-files -z -co --exclude-standard . | while IFS= read -r -d '' f; do [ -f "$context/$f" ] && echo "$f"; done
  else
    (cd "$context" && find . -type f | sed 's|^\./||')
  fi
}
hash=$(
  {
    echo "ref $ref base $DEBIAN_BASE_IMAGE args ${extra[*]:-}"
    sha256sum <"$dockerfile"
    [ ! -f "$context/.dockerignore" ] || sha256sum <"$context/.dockerignore"
    list_files | LC_ALL=C sort | (cd "$context" && tr '\n' '\0' | xargs -0 -r sha256sum)
  } | sha256sum | cut -c1-16
)
safe=$(echo "$ref" | tr '/:' '__')
archive=$IMAGES_DIR/$safe-$hash.tar
if [ -s "$archive" ]; then
  log "image $ref: cached ($archive)"
  echo "$archive"
  exit 0
fi

# --- build -------------------------------------------------------------------------------------
if ! buildah_ inspect --type image "$DEBIAN_BASE_IMAGE" >/dev/null 2>&1; then
  log "base image $DEBIAN_BASE_IMAGE missing: building it"
  bash "$CLUSTER_DIR/build-node.sh" base
fi
mkdir -p "$IMAGES_DIR"
# bud leaves a working container (in vfs a full copy) of every stage used only by COPY --from;
# the ones that were not there before the build are removed after it.
before=$(buildah_ containers -q 2>/dev/null | sort)
remove_new_containers() {
  comm -13 <(echo "$before") <(buildah_ containers -q 2>/dev/null | sort) | xargs -r buildah --root "$BUILDAH_ROOT" \
    --runroot "$BUILDAH_RUNROOT" --storage-driver vfs rm >/dev/null 2>&1 || true
}
trap remove_new_containers EXIT
log "image $ref: buildah bud --isolation chroot (vfs) $dockerfile, context $context, BASE_IMAGE=$DEBIAN_BASE_IMAGE"
buildah_ bud --isolation chroot --pull=never -f "$dockerfile" --build-arg "BASE_IMAGE=$DEBIAN_BASE_IMAGE" \
  "${extra[@]}" -t "$ref" "$context" >&2 || die "buildah bud failed for $ref"
log "image $ref: built in $(since "$T0"); exporting the OCI archive"
rm -f "$archive.tmp"
buildah_ push -q "$ref" "oci-archive:$archive.tmp:$ref" >&2 || die "buildah push failed for $ref"
mv -f "$archive.tmp" "$archive"
# vfs keeps a full copy per layer: drop the built image, keep the base
buildah_ rmi "$ref" >/dev/null 2>&1 || true
# older archives of the same ref are superseded
for old in "$IMAGES_DIR/$safe"-????????????????.tar; do [ "$old" = "$archive" ] || rm -f "$old"; done
log "image $ref: $archive ($(du -h "$archive" | cut -f1)) in $(since "$T0")"
echo "$archive"
