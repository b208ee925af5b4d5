#!/usr/bin/env bash
# Copies cert-manager's CRDs (Certificate, Issuer, ClusterIssuer, …) out of the Go module
# github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION (versions.env; deploy/crds holds the
# CRD sources, published for reference and testing) into
# $SANDBANK_CACHE/cert-manager-<version>/crds, once per version, and prints that directory on
# stdout. The manifests' integration test applies them to the test apiserver so that
# manifests/components/cert-manager is dry-run server-side against the real schemas.
# Usage: fetch-cert-manager-crds.sh
. "$(dirname "$0")/lib/common.sh"
. "$CLUSTER_DIR/lib/module-crds.sh"

module_crds github.com/cert-manager/cert-manager "$CERT_MANAGER_VERSION" deploy/crds \
  "$SANDBANK_CACHE/cert-manager-$CERT_MANAGER_VERSION" \
  cert-manager.io_certificates.yaml cert-manager.io_issuers.yaml
