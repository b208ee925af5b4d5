#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok from
# their Go modules, once per version, into $SANDBANK_CACHE/<part>-<version>/bin.
# Usage: build-control-plane.sh [etcd] [kubernetes] [kwok]   (default: all)
. "$(dirname "$0")/lib/common.sh"
command -v go >/dev/null || die "Go is required (https://go.dev/dl); it is used to build the control plane"
go_env

# A part is built when its stamp file exists; the stamp is written last, so a build that was
# interrupted is redone from scratch instead of leaving a half-built binary in the cache.
built() { [ -f "$1/.built" ]; }

build_etcd() {
  local out="$SANDBANK_CACHE/etcd-$ETCD_VERSION"
  built "$out" && { log "etcd $ETCD_VERSION: cached"; return; }
  log "etcd $ETCD_VERSION: building (about 30 s cold)"
  local work; work=$(mktemp -d); trap 'rm -rf "$work"' RETURN
  (cd "$work" && go mod init sandbank.local/etcd-build >/dev/null 2>&1 &&
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" &&
    go build -trimpath -ldflags "-s -w" -o "$out/bin/etcd" go.etcd.io/etcd/server/v3)
  touch "$out/.built"; log "etcd: done"
}

build_kubernetes() {
  local out="$SANDBANK_CACHE/kubernetes-$KUBERNETES_VERSION"
  built "$out" && { log "kubernetes $KUBERNETES_VERSION: cached"; return; }
  log "kubernetes $KUBERNETES_VERSION: resolving module and its staging replacements"
  local work; work=$(mktemp -d); trap 'rm -rf "$work"' RETURN
  local kdir minor staging
  kdir=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  [ -n "$kdir" ] || die "could not download k8s.io/kubernetes@$KUBERNETES_VERSION"
  minor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
  # k8s.io/kubernetes points its staging modules at ./staging; pin each to its published v0.x twin.
  staging=$(grep -E '^\s+k8s.io/[a-z0-9-]+ => ./staging' "$kdir/go.mod" | awk '{print $1}')
  {
    echo "module sandbank.local/kubernetes-build"
    echo "go 1.24"
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    for m in $staging; do echo "replace $m => $m v0.${KUBERNETES_VERSION#v1.}"; done
  } >"$work/go.mod"
  local cmds="kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy"
  {
    echo "//go:build tools"; echo; echo "package tools"; echo; echo "import ("
    for c in $cmds; do echo "	_ \"k8s.io/kubernetes/cmd/$c\""; done
    echo ")"
  } >"$work/tools.go"
  (cd "$work" && go mod tidy)
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION"
  ld="$ld -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION"
  for c in $cmds; do
    log "kubernetes: building $c (kube-apiserver takes about 3 min cold on 2 cores)"
    (cd "$work" && go build -trimpath -ldflags "$ld" -o "$out/bin/$c" "k8s.io/kubernetes/cmd/$c")
  done
  touch "$out/.built"; log "kubernetes: done"
}

build_kwok() {
  local out="$SANDBANK_CACHE/kwok-$KWOK_VERSION"
  built "$out" && { log "kwok $KWOK_VERSION: cached"; return; }
  log "kwok $KWOK_VERSION: building (about 75 s cold)"
  local work; work=$(mktemp -d); trap 'rm -rf "$work"' RETURN
  printf '//go:build tools\n\npackage tools\n\nimport _ "sigs.k8s.io/kwok/cmd/kwok"\n' >"$work/tools.go"
  (cd "$work" && go mod init sandbank.local/kwok-build >/dev/null 2>&1 &&
    go get "sigs.k8s.io/kwok@$KWOK_VERSION" && go mod tidy &&
    go build -trimpath -ldflags "-s -w" -o "$out/bin/kwok" sigs.k8s.io/kwok/cmd/kwok)
  # kwok needs stage definitions; they ship as kustomize trees inside its module.
  local src; src=$(go list -m -json "sigs.k8s.io/kwok@$KWOK_VERSION" 2>/dev/null | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  [ -n "$src" ] || src=$(cd "$work" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  mkdir -p "$out/stages"
  cp -r "$src/kustomize/stage" "$out/stages/" && chmod -R u+w "$out/stages"
  touch "$out/.built"; log "kwok: done"
}

parts=${*:-etcd kubernetes kwok}
for p in $parts; do
  case $p in
    etcd) build_etcd ;; kubernetes) build_kubernetes ;; kwok) build_kwok ;;
    *) die "unknown part '$p' (expected etcd, kubernetes or kwok)" ;;
  esac
done
