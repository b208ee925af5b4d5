#!/usr/bin/env bash
# Builds runtime-image/Dockerfile without a Docker engine or a registry, with buildah
# (`--isolation chroot`, vfs storage): the same image `docker build` makes, for the local cluster.
#
#   runtime-image/scripts/build-image.sh [--tag localhost/sandbank-runtime:dev] [--out image.tar]
#
# The Dockerfile's three inputs become local images made here instead of pulled:
#   BASE_IMAGE   localhost/debian-base:bookworm   debootstrap --variant=minbase, built once, cached
#   NODE_IMAGE   localhost/sandbank-node:<ver>    the host's node binary (>= 20) at /usr/local/bin/node
#   BUNDLE_FROM  localhost/sandbank-agent-bundle  the agent bundled on the host (scripts/bundle.mjs)
# so nothing runs npm inside the build; only the runtime stage's `apt-get install` reaches the
# Debian mirror. Needs root, buildah and debootstrap (apt-get install buildah debootstrap).
# Storage is private to this script ($SANDBANK_CACHE/runtime-image, default
# ~/.cache/sandbank/runtime-image), so it never touches another user's containers. --out writes an
# OCI archive for `ctr -n k8s.io images import`.
set -euo pipefail

tag=localhost/sandbank-runtime:dev
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--tag NAME:TAG] [--out FILE.tar]" >&2; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${SANDBANK_CACHE:-$HOME/.cache/sandbank}/runtime-image
mkdir -p "$cache"
b() { buildah --root "$cache/storage" --runroot "$cache/run" --storage-driver vfs "$@"; }
has_image() { b images --quiet "$1" >/dev/null 2>&1; }
for tool in buildah debootstrap node; do
  command -v "$tool" >/dev/null || { echo "$tool is required (apt-get install -y buildah debootstrap)" >&2; exit 1; }
done
node_version=$(node --version)
case "$node_version" in v2[0-9].*|v[3-9][0-9].*) ;; *) echo "node >= 20 is required, found $node_version" >&2; exit 1 ;; esac

work=$(mktemp -d)
containers=()
cleanup() {
  for c in "${containers[@]}"; do b rm "$c" >/dev/null 2>&1 || true; done
  # bud leaves working containers of stages used only by COPY --from; the storage is ours alone.
  b rm --all >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# 1. Base: a minimal Debian, once (about 25 s), then cached in the private storage.
if ! has_image localhost/debian-base:bookworm; then
  echo "building localhost/debian-base:bookworm with debootstrap"
  debootstrap --variant=minbase bookworm "$work/rootfs" >"$work/debootstrap.log"
  rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/*
  tar -C "$work/rootfs" -cf "$work/base.tar" .
  c=$(b from scratch); containers+=("$c")
  b add "$c" "$work/base.tar" /
  b config --cmd /bin/sh "$c"
  b commit -q "$c" localhost/debian-base:bookworm >/dev/null
  rm -rf "$work/rootfs" "$work/base.tar"
fi

# 2. Node: the host's binary (Debian-built or nodesource; it links only glibc and libstdc++,
# which the base has).
node_image=localhost/sandbank-node:${node_version#v}
if ! has_image "$node_image"; then
  c=$(b from scratch); containers+=("$c")
  b copy --chmod 0755 "$c" "$(command -v node)" /usr/local/bin/node
  b commit -q "$c" "$node_image" >/dev/null
fi

# 3. The agent, bundled on the host from the working tree.
mkdir -p "$work/out"
node "$repo/runtime-image/scripts/bundle.mjs" "$work/out/agent.mjs"
c=$(b from scratch); containers+=("$c")
b copy "$c" "$work/out" /out
b commit -q "$c" localhost/sandbank-agent-bundle:dev >/dev/null

# 4. The Dockerfile itself.
b bud --isolation chroot --layers=false \
  --ignorefile "$repo/runtime-image/Dockerfile.dockerignore" \
  -f "$repo/runtime-image/Dockerfile" --target runtime \
  --build-arg BASE_IMAGE=localhost/debian-base:bookworm \
  --build-arg NODE_IMAGE="$node_image" \
  --build-arg BUNDLE_FROM=localhost/sandbank-agent-bundle:dev \
  -t "$tag" "$repo"
echo "built $tag"
if [ -n "$out" ]; then
  rm -f "$out"
  b push "$tag" "oci-archive:$out:$tag"
  echo "wrote $out (import: ctr -n k8s.io images import --base-name ${tag%:*} $out)"
fi
