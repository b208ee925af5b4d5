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
. "$CLUSTER_DIR/lib/module-crds.sh"

module_crds sigs.k8s.io/gateway-api "$GATEWAY_API_VERSION" config/crd/standard \
  "$SANDBANK_CACHE/gateway-api-$GATEWAY_API_VERSION" \
  gateway.networking.k8s.io_gateways.yaml gateway.networking.k8s.io_httproutes.yaml
