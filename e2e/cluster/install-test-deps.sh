#!/usr/bin/env bash
# Installs the Debian packages the test suite needs when they are missing: openssl (test PKI),
# runsc (the agent's gVisor test), iproute2 (its network namespace), plus git, make, curl and
# python3 (the legacy-API tests compare against Python itself; the Python client's tests need its
# venv module), and shellcheck (make lint). Idempotent: installs nothing when all are present.
# The list (command:package) is TEST_DEP_TOOLS in lib/common.sh; doctor.sh checks the same.
. "$(dirname "$0")/lib/common.sh"

need=()
for tool in $TEST_DEP_TOOLS; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
# The Python client's tests run in a virtualenv (Debian splits venv out of python3).
command -v python3 >/dev/null && ! python3 -c 'import ensurepip, venv' 2>/dev/null && need+=(python3-venv)
[ ${#need[@]} -eq 0 ] && exit 0
[ "$(id -u)" -eq 0 ] || die "missing ${need[*]}; install them (apt-get install ${need[*]}) or run this as root"
log "installing ${need[*]} (apt)"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" ca-certificates
