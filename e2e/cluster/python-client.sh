#!/usr/bin/env bash
# The Python client (clients/python: agentic_sandbox + sandbank) in a venv under the cache,
# for make up's quickstart and the e2e suite. Installs python3-venv (apt) when python3 lacks it;
# reinstalls the client only when its files change.
# Usage: python-client.sh      Stdout: the venv's python. Progress goes to stderr.
. "$(dirname "$0")/lib/common.sh"
. "$CLUSTER_DIR/lib/node.sh"

REPO=$(cd "$CLUSTER_DIR/../.." && pwd)
VENV=$SANDBANK_CACHE/venv
T0=$EPOCHREALTIME
[ -f "$REPO/clients/python/pyproject.toml" ] || die "clients/python is missing"
command -v python3 >/dev/null || die "python3 is missing (apt-get install python3 python3-venv)"
if [ ! -x "$VENV/bin/python" ]; then
  if ! python3 -c 'import ensurepip' 2>/dev/null; then
    [ "$(id -u)" = 0 ] || die "python3 has no venv support: apt-get install python3-venv"
    log "python3 has no venv support: installing python3-venv (apt)"
    apt-get install -y -qq --no-install-recommends python3-venv >&2 || die "apt-get install python3-venv failed"
  fi
  log "creating the venv $VENV"
  python3 -m venv "$VENV"
fi
hash=$(cd "$REPO" && git ls-files -co --exclude-standard clients/python | LC_ALL=C sort |
  tr '\n' '\0' | xargs -0 -r sha256sum | sha256sum | cut -c1-16)
if [ "$(cat "$VENV/.sandbank-client" 2>/dev/null)" != "$hash" ]; then
  log "pip install ./clients/python into $VENV (PyPI: its dependencies)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$REPO/clients/python" >&2 ||
    die "pip install ./clients/python failed"
  echo "$hash" >"$VENV/.sandbank-client"
  log "Python client installed in $(elapsed)"
fi
echo "$VENV/bin/python"
