#!/usr/bin/env bash
# Copies the Gateway API standard-channel CRDs (Gateway, HTTPRoute, GatewayClass, …) out of the Go
# module sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION (versions.env; the module zip carries
# config/crd/standard/*.yaml) into $SANDBANK_CACHE/gateway-api-<version>/crds, once per version,
# and prints that directory on stdout. The manifests' integration test applies them to the test
# apiserver so that manifests/components/gateway is dry-run server-side against the real schemas.
#
# Only the CustomResourceDefinitions are copied: the standard channel also ships a
# ValidatingAdmissionPolicy (safe-upgrades) that guards CRD upgrades and has nothing to validate here.
# Version: v1.7.0 is on the module proxy too, but its go.mod says `go 1.27.0`, which the Go 1.26
# toolchain refuses to extract (GOTOOLCHAIN=local); v1.6.3 is the newest release it takes.
# Usage: fetch-gateway-api-crds.sh
. "$(dirname "$0")/lib/common.sh"

out="$SANDBANK_CACHE/gateway-api-$GATEWAY_API_VERSION"
# The copy is made in a temp dir, checked, stamped and then renamed into place, so an interrupted
# copy is redone instead of leaving half the CRDs.
if [ -f "$out/.built" ] && [ -f "$out/crds/gateway.networking.k8s.io_gateways.yaml" ]; then
  log "gateway-api $GATEWAY_API_VERSION: cached"
  echo "$out/crds"
  exit 0
fi

command -v go >/dev/null || die "Go is required (https://go.dev/dl); the Gateway API CRDs come from its module"
go_env
log "gateway-api $GATEWAY_API_VERSION: downloading sigs.k8s.io/gateway-api from the module proxy"
# `go mod download -json` prints a JSON object with "Dir" (the extracted module) or "Error".
json=$(go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" 2>&1) || true
src=$(sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p' <<<"$json")
[ -d "${src:-/nonexistent}/config/crd/standard" ] ||
  die "could not download sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION: $json"

tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp/crds"
trap 'rm -rf "$tmp"' EXIT
for f in "$src"/config/crd/standard/*.yaml; do
  grep -q '^kind: CustomResourceDefinition$' "$f" && cp "$f" "$tmp/crds/"
done
chmod -R u+w "$tmp"
for kind in gateways httproutes; do
  [ -f "$tmp/crds/gateway.networking.k8s.io_$kind.yaml" ] ||
    die "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION has no standard CRD for $kind"
done
printf '%s\n' "$GATEWAY_API_VERSION" >"$tmp/VERSION"
touch "$tmp/.built"
rm -rf "$out"
mv -T "$tmp" "$out"
log "gateway-api: $(find "$out/crds" -name '*.yaml' | wc -l) CRDs in $out/crds"
echo "$out/crds"
