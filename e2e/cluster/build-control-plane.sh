#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet,
# kube-proxy and kwok from their Go modules, once per version, into
# $SANDBANK_CACHE/<part>-<version>/bin.
# Usage: build-control-plane.sh [etcd] [kubernetes] [kwok]   (default: all)
# A part is built in a temp dir next to its cache dir; every binary is checked (its Go build info
# names the pinned module version, and it runs), then the stamp .built is written and the temp dir
# renamed into place (lib/common.sh: stage_dir, publish). An interrupted build leaves nothing that
# looks finished. The estimates below are cold builds on 2 cores (Go module downloads included
# where noted); a busy machine takes longer, and a progress line every 30 s says how long so far.
. "$(dirname "$0")/lib/common.sh"
command -v go >/dev/null || die "Go >= $GO_MIN_VERSION is required (https://go.dev/dl); it is used to build the control plane"
go_env

KUBERNETES_CMDS="kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy"

build_etcd() {
  local out="$SANDBANK_CACHE/etcd-$ETCD_VERSION"
  cached "$out" bin/etcd && { log "etcd $ETCD_VERSION: cached"; return; }
  log "etcd $ETCD_VERSION: building (about 1 min cold, module downloads included)"
  local stage work check
  stage=$(stage_dir "$out")
  work=$(mktemp -d)
  # shellcheck disable=SC2064 # the paths are fixed now
  trap "rm -rf '$work' '$stage'" RETURN
  (cd "$work" && go mod init sandbank.local/etcd-build >/dev/null 2>&1 &&
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" &&
    with_progress "etcd: go build" "40 s" \
      go build -trimpath -ldflags "-s -w" -o "$stage/bin/etcd" go.etcd.io/etcd/server/v3)
  check=$(verify_go_binary "$stage/bin/etcd" go.etcd.io/etcd/server/v3 "$ETCD_VERSION" --version)
  log "  $check"
  publish "$stage" "$out" "$check"
  log "etcd: done"
}

# Seconds-scale estimates per binary (cold, 2 cores; later ones reuse the packages the earlier
# ones compiled).
kubernetes_estimate() {
  case $1 in
    kube-apiserver) echo "3 min" ;;
    kube-controller-manager) echo "1 min 30 s" ;;
    kube-scheduler) echo "30 s" ;;
    kubectl) echo "1 min" ;;
    kubelet) echo "1 min" ;;
    kube-proxy) echo "20 s" ;;
    *) echo "1 min" ;;
  esac
}

build_kubernetes() {
  local out="$SANDBANK_CACHE/kubernetes-$KUBERNETES_VERSION" c
  local -a bins=()
  for c in $KUBERNETES_CMDS; do bins+=("bin/$c"); done
  cached "$out" "${bins[@]}" && { log "kubernetes $KUBERNETES_VERSION: cached"; return; }
  log "kubernetes $KUBERNETES_VERSION: resolving the module and its staging replacements (about 1 min cold, module downloads included)"
  local stage work json kdir minor staging m n=0 total check checks=""
  stage=$(stage_dir "$out")
  work=$(mktemp -d)
  # shellcheck disable=SC2064 # the paths are fixed now
  trap "rm -rf '$work' '$stage'" RETURN
  json=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION") ||
    die "could not download k8s.io/kubernetes@$KUBERNETES_VERSION: $json"
  kdir=$(sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p' <<<"$json")
  [ -n "$kdir" ] || die "could not download k8s.io/kubernetes@$KUBERNETES_VERSION: $json"
  minor=$(cut -d. -f2 <<<"$KUBERNETES_VERSION")
  # k8s.io/kubernetes points its staging modules at ./staging; pin each to its published v0.x twin.
  staging=$(grep -E '^\s+k8s.io/[a-z0-9-]+ => ./staging' "$kdir/go.mod" | awk '{print $1}')
  {
    echo "module sandbank.local/kubernetes-build"
    echo "go 1.24"
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    for m in $staging; do echo "replace $m => $m v0.${KUBERNETES_VERSION#v1.}"; done
  } >"$work/go.mod"
  {
    echo "//go:build tools"; echo; echo "package tools"; echo; echo "import ("
    for c in $KUBERNETES_CMDS; do echo "	_ \"k8s.io/kubernetes/cmd/$c\""; done
    echo ")"
  } >"$work/tools.go"
  (cd "$work" && with_progress "kubernetes: go mod tidy" "1 min" go mod tidy)
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION"
  ld="$ld -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION"
  total=$(wc -w <<<"$KUBERNETES_CMDS")
  for c in $KUBERNETES_CMDS; do
    n=$((n + 1))
    log "kubernetes: building $c ($n/$total, about $(kubernetes_estimate "$c") cold on 2 cores)"
    (cd "$work" && with_progress "kubernetes: $c" "$(kubernetes_estimate "$c")" \
      go build -trimpath -ldflags "$ld" -o "$stage/bin/$c" "k8s.io/kubernetes/cmd/$c")
    if [ "$c" = kubectl ]; then
      check=$(verify_go_binary "$stage/bin/$c" k8s.io/kubernetes "$KUBERNETES_VERSION" version --client)
    else
      check=$(verify_go_binary "$stage/bin/$c" k8s.io/kubernetes "$KUBERNETES_VERSION" --version)
    fi
    log "  $check"
    checks+="$check"$'\n'
  done
  publish "$stage" "$out" "${checks%$'\n'}"
  log "kubernetes: done"
}

build_kwok() {
  local out="$SANDBANK_CACHE/kwok-$KWOK_VERSION"
  cached "$out" bin/kwok && [ -d "$out/stages/stage" ] && { log "kwok $KWOK_VERSION: cached"; return; }
  log "kwok $KWOK_VERSION: building (about 1 min 30 s cold, module downloads included)"
  local stage work src check
  stage=$(stage_dir "$out")
  work=$(mktemp -d)
  # shellcheck disable=SC2064 # the paths are fixed now
  trap "rm -rf '$work' '$stage'" RETURN
  printf '//go:build tools\n\npackage tools\n\nimport _ "sigs.k8s.io/kwok/cmd/kwok"\n' >"$work/tools.go"
  (cd "$work" && go mod init sandbank.local/kwok-build >/dev/null 2>&1 &&
    go get "sigs.k8s.io/kwok@$KWOK_VERSION" && go mod tidy &&
    with_progress "kwok: go build" "1 min 15 s" \
      go build -trimpath -ldflags "-s -w" -o "$stage/bin/kwok" sigs.k8s.io/kwok/cmd/kwok)
  check=$(verify_go_binary "$stage/bin/kwok" sigs.k8s.io/kwok "$KWOK_VERSION" --help)
  log "  $check"
  # kwok needs stage definitions; they ship as kustomize trees inside its module.
  src=$(cd "$work" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  [ -d "$src/kustomize/stage" ] || die "no kustomize/stage in sigs.k8s.io/kwok@$KWOK_VERSION ($src)"
  mkdir -p "$stage/stages"
  cp -r "$src/kustomize/stage" "$stage/stages/"
  chmod -R u+w "$stage/stages"
  publish "$stage" "$out" "$check"
  log "kwok: done"
}

parts=${*:-etcd kubernetes kwok}
for p in $parts; do
  case $p in
    etcd) build_etcd ;; kubernetes) build_kubernetes ;; kwok) build_kwok ;;
    *) die "unknown part '$p' (expected etcd, kubernetes or kwok)" ;;
  esac
done
