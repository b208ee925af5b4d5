#!/usr/bin/env bash
# Builds everything the real node needs besides the control plane, once per version:
#   apt     Debian packages (containerd, runc, CNI plugins, umoci, buildah, debootstrap, iptables…)
#           - only the missing ones are installed
#   runsc   gVisor from its Go module          -> $SANDBANK_CACHE/runsc-<version>/bin/runsc
#   kube-router from its Go module (firewall)  -> $SANDBANK_CACHE/kube-router-<version>/bin/kube-router
#   pause   static C program packed with umoci -> $SANDBANK_CACHE/images/pause-<tag>.tar
#   busybox busybox-static packed with umoci   -> $SANDBANK_CACHE/images/busybox-<tag>.tar
#   base    debootstrap bookworm minbase, committed into buildah's storage as $DEBIAN_BASE_IMAGE
# Usage: build-node.sh [apt] [runsc] [kube-router] [pause] [busybox] [base]   (default: all)
# runsc and kube-router are built in a temp dir, checked (Go build info names the pinned version,
# the binary runs), stamped and renamed into place (lib/common.sh: stage_dir, publish); the image
# archives are written to a temp name, checked and renamed. An interrupted build leaves nothing
# that looks finished.
. "$(dirname "$0")/lib/common.sh"
. "$CLUSTER_DIR/lib/node.sh"

step_t0() { STEP_T0=$EPOCHREALTIME; }
step_done() { log "$1: done in $(since "$STEP_T0")"; }

build_apt() {
  local p status
  local -a wanted missing=()
  # iproute2 (ip, ss): the node's links, routes and netns, and the port checks; Debian's cloud
  # images have it, minimal ones do not.
  read -ra wanted <<<"$NODE_APT_PACKAGES iproute2"
  for p in "${wanted[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) || status=""
    [ "$status" = "install ok installed" ] || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then log "apt: all ${#wanted[@]} packages installed"; return; fi
  [ "$(id -u)" = 0 ] || die "apt: missing packages: ${missing[*]} (run as root, or install them)"
  step_t0
  log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # apt never starts containerd here (no systemd); the node runs its own instance.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  step_done apt
}

build_runsc() {
  cached "$RUNSC_DIR" bin/runsc && { log "runsc $GVISOR_VERSION: cached"; return; }
  command -v go >/dev/null || die "Go >= $GO_MIN_VERSION is required to build runsc"
  go_env; step_t0
  log "runsc $GVISOR_VERSION: building from gvisor.dev/gvisor (about 1 min 30 s cold, module downloads included)"
  local stage work check
  stage=$(stage_dir "$RUNSC_DIR")
  work=$(mktemp -d)
  # shellcheck disable=SC2064 # the paths are fixed now
  trap "rm -rf '$work' '$stage'" RETURN
  (cd "$work" && go mod init sandbank.local/runsc-build >/dev/null 2>&1 &&
    go get "gvisor.dev/gvisor/runsc@$GVISOR_VERSION" &&
    with_progress "runsc: go build" "1 min" \
      go build -trimpath -ldflags "-s -w -X gvisor.dev/gvisor/runsc/version.version=${GVISOR_VERSION#v}" \
      -o "$stage/bin/runsc" gvisor.dev/gvisor/runsc)
  check=$(verify_go_binary "$stage/bin/runsc" gvisor.dev/gvisor "$GVISOR_VERSION" --version)
  log "  $check"
  publish "$stage" "$RUNSC_DIR" "$check"
  step_done runsc
}

build_kube_router() {
  cached "$KUBE_ROUTER_DIR" bin/kube-router && { log "kube-router $KUBE_ROUTER_VERSION: cached"; return; }
  command -v go >/dev/null || die "Go >= $GO_MIN_VERSION is required to build kube-router"
  go_env; step_t0
  log "kube-router $KUBE_ROUTER_VERSION: building (about 1 min 30 s cold, module downloads included)"
  local stage work check
  stage=$(stage_dir "$KUBE_ROUTER_DIR")
  work=$(mktemp -d)
  # shellcheck disable=SC2064 # the paths are fixed now
  trap "rm -rf '$work' '$stage'" RETURN
  # The checksum database does not know these versions: skip it for the two module families.
  (cd "$work" && export GONOSUMDB=github.com/cloudnativelabs,github.com/osrg GOFLAGS="-mod=mod $GOFLAGS" &&
    go mod init sandbank.local/kube-router-build >/dev/null 2>&1 &&
    go get "github.com/cloudnativelabs/kube-router@$KUBE_ROUTER_VERSION" &&
    with_progress "kube-router: go build" "1 min" \
      go build -trimpath -ldflags "-s -w -X github.com/cloudnativelabs/kube-router/pkg/version.Version=$KUBE_ROUTER_VERSION" \
      -o "$stage/bin/kube-router" github.com/cloudnativelabs/kube-router/cmd/kube-router)
  check=$(verify_go_binary "$stage/bin/kube-router" github.com/cloudnativelabs/kube-router "$KUBE_ROUTER_VERSION" --version)
  log "  $check"
  publish "$stage" "$KUBE_ROUTER_DIR" "$check"
  step_done kube-router
}

# pack_rootfs <rootfs> <tag> <archive> <umoci config args...>: one-layer OCI image, tarred layout.
pack_rootfs() {
  local rootfs=$1 tag=$2 archive=$3; shift 3
  local layout; layout=$(mktemp -d "$IMAGES_DIR/layout.XXXXXX")
  rmdir "$layout"
  umoci init --layout "$layout"
  umoci new --image "$layout:$tag"
  umoci insert --image "$layout:$tag" "$rootfs" / >/dev/null
  umoci config --image "$layout:$tag" --architecture amd64 --os linux "$@"
  tar -C "$layout" -cf "$archive.tmp" .
  rm -rf "$layout"
  # an OCI layout with the image's tag in its index, before it takes the archive's name
  local listing index
  listing=$(tar -tf "$archive.tmp") || die "$archive.tmp is not a readable tar"
  grep -qxF ./oci-layout <<<"$listing" || die "$archive.tmp has no oci-layout"
  index=$(tar -xOf "$archive.tmp" ./index.json) || die "$archive.tmp has no index.json"
  [[ $index == *org.opencontainers.image.ref.name*"\"$tag\""* ]] || die "$archive.tmp does not hold tag $tag"
  mv -f "$archive.tmp" "$archive"
}

build_pause() {
  [ -s "$PAUSE_ARCHIVE" ] && { log "pause image $PAUSE_IMAGE: cached"; return; }
  step_t0
  log "pause image $PAUSE_IMAGE: static C program (gcc -static) packed with umoci"
  mkdir -p "$IMAGES_DIR"
  local work; work=$(mktemp -d); trap 'rm -rf "$work"' RETURN
  cat >"$work/pause.c" <<'EOF'
/* The pod sandbox's first process: holds the namespaces until SIGTERM/SIGINT. */
#include <signal.h>
#include <unistd.h>
static void bye(int sig) { (void)sig; _exit(0); }
int main(void) {
  signal(SIGTERM, bye);
  signal(SIGINT, bye);
  for (;;) pause();
}
EOF
  mkdir -p "$work/rootfs"
  gcc -static -O2 -o "$work/rootfs/pause" "$work/pause.c" && strip "$work/rootfs/pause"
  pack_rootfs "$work/rootfs" "${PAUSE_IMAGE##*:}" "$PAUSE_ARCHIVE" --config.entrypoint /pause --config.user 65535:65535
  step_done pause
}

build_busybox() {
  [ -s "$BUSYBOX_ARCHIVE" ] && { log "busybox image $BUSYBOX_IMAGE: cached"; return; }
  step_t0
  log "busybox image $BUSYBOX_IMAGE: Debian busybox-static + one symlink per applet, packed with umoci"
  mkdir -p "$IMAGES_DIR"
  local work; work=$(mktemp -d); trap 'rm -rf "$work"' RETURN
  local r=$work/rootfs a
  mkdir -p "$r"/{bin,etc,proc,sys,dev,tmp,root,www}
  chmod 1777 "$r/tmp"
  cp /bin/busybox "$r/bin/busybox"
  for a in $("$r/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
  echo hello-from-pod >"$r/www/index.html"
  pack_rootfs "$r" "${BUSYBOX_IMAGE##*:}" "$BUSYBOX_ARCHIVE" --config.cmd /bin/sh --config.env PATH=/bin
  step_done busybox
}

build_base() {
  if [ -s "$DEBIAN_BASE_DIR/rootfs.tar" ] && buildah_ inspect --type image "$DEBIAN_BASE_IMAGE" >/dev/null 2>&1; then
    log "base image $DEBIAN_BASE_IMAGE: cached"; return
  fi
  step_t0
  if [ ! -s "$DEBIAN_BASE_DIR/rootfs.tar" ]; then
    log "base image: debootstrap --variant=minbase $DEBIAN_SUITE (about 30 s)"
    mkdir -p "$DEBIAN_BASE_DIR"
    local work; work=$(mktemp -d "$DEBIAN_BASE_DIR/rootfs.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" RETURN
    debootstrap --variant=minbase "$DEBIAN_SUITE" "$work" http://deb.debian.org/debian >"$DEBIAN_BASE_DIR/debootstrap.log" 2>&1 ||
      { tail -n 20 "$DEBIAN_BASE_DIR/debootstrap.log" >&2; die "debootstrap failed (log: $DEBIAN_BASE_DIR/debootstrap.log)"; }
    rm -rf "$work"/var/cache/apt/archives/*.deb "$work"/var/lib/apt/lists/* "$work"/var/log/*.log
    tar -C "$work" -cf "$DEBIAN_BASE_DIR/rootfs.tar.tmp" . && mv -f "$DEBIAN_BASE_DIR/rootfs.tar.tmp" "$DEBIAN_BASE_DIR/rootfs.tar"
  fi
  log "base image: committing $DEBIAN_BASE_IMAGE into buildah storage ($BUILDAH_ROOT, vfs)"
  mkdir -p "$BUILDAH_ROOT" "$BUILDAH_RUNROOT"
  local c
  c=$(buildah_ from scratch)
  buildah_ add "$c" "$DEBIAN_BASE_DIR/rootfs.tar" / >/dev/null
  buildah_ config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --os linux --arch amd64 "$c"
  buildah_ commit -q --rm "$c" "$DEBIAN_BASE_IMAGE" >/dev/null
  step_done "base image $DEBIAN_BASE_IMAGE"
}

parts=${*:-apt runsc kube-router pause busybox base}
T0=$EPOCHREALTIME
for p in $parts; do
  case $p in
    apt) build_apt ;; runsc) build_runsc ;; kube-router) build_kube_router ;;
    pause) build_pause ;; busybox) build_busybox ;; base) build_base ;;
    *) die "unknown part '$p' (expected apt, runsc, kube-router, pause, busybox or base)" ;;
  esac
done
log "node parts ready in $(since "$T0")"
