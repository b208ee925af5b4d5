#!/usr/bin/env bash
# Prints the path of a Python interpreter that has upstream agent-sandbox's Python SDK
# (k8s-agent-sandbox, the release pinned in tests/upstream/requirements.txt) and pytest, and
# nothing of this repository: tests/upstream run it unchanged against Sandbank, and keeping
# `sandbank` out proves they use only upstream's code (and its dependencies cannot clash with ours).
# The virtualenv lives in the cache ($SANDBANK_CACHE, default ~/.cache/sandbank) as
# upstream-sdk-venv-<key> (not python-venv-*: scripts/venv.sh removes those but its own), the key
# a digest of the interpreter's version and the requirements file, as scripts/venv.sh keys its
# own; once made it is reused as it is, so it works offline.
# The SDK needs Python >= 3.11 (its Requires-Python); set PYTHON to pick another interpreter.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
log() { echo "[sandbank-python-upstream] $*" >&2; }
requirements=$here/tests/upstream/requirements.txt

python=${PYTHON:-python3}
command -v "$python" >/dev/null || { log "python3 (>= 3.11) is required (set PYTHON to choose one)"; exit 1; }
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  log "python >= 3.11 is required by k8s-agent-sandbox (its Requires-Python), found $("$python" --version 2>&1) at $(command -v "$python"); set PYTHON to a newer interpreter"
  exit 1
}
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  # Debian splits the venv module out of python3.
  [ "$(id -u)" = 0 ] || { log "the venv module is missing: apt-get install python3-venv"; exit 1; }
  log "installing python3-venv (apt)"
  apt-get install -y -qq --no-install-recommends python3-venv >&2 || { log "apt-get install python3-venv failed"; exit 1; }
fi

cache=${SANDBANK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sandbank}
key=$( { "$python" --version 2>&1; sha256sum <"$requirements"; } | sha256sum | cut -c1-12)
venv=$cache/upstream-sdk-venv-$key
# One maker at a time: a second call (a parallel test run) waits, then finds the venv ready.
mkdir -p "$cache"
exec 9>"$cache/upstream-sdk-venv.lock"
flock 9
# .ready is written last: a venv without it (an interrupted install) is made again.
if [ -f "$venv/.ready" ] && [ -x "$venv/bin/python" ]; then
  log "$venv: ready ($(cat "$venv/.ready"))"
else
  log "creating $venv ($(grep -Ev '^(#|$)' "$requirements" | paste -sd " "))"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  log "installing from the package index (about 1 min)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2 ||
    { log "pip install -r $requirements failed (offline? the first run needs the package index)"; exit 1; }
  # What was installed, checked against the pins: the stamp names it.
  installed=$("$venv/bin/python" -c 'from importlib.metadata import version as v; print("k8s-agent-sandbox", v("k8s-agent-sandbox"), "pytest", v("pytest"))')
  want=$(awk -F'==' '/==/ { printf "%s%s %s", sep, $1, $2; sep = " " }' "$requirements")
  [ "$installed" = "$want" ] || { log "installed $installed, expected $want"; exit 1; }
  if "$venv/bin/python" -c 'import sandbank' 2>/dev/null || "$venv/bin/python" -c 'import agentic_sandbox' 2>/dev/null; then
    log "$venv has this repository's package: it must hold upstream's SDK alone"; exit 1
  fi
  echo "$installed" >"$venv/.ready"
  log "ready: $installed"
  # Older virtualenvs of other keys are superseded.
  for old in "$cache"/upstream-sdk-venv-*; do [ "$old" = "$venv" ] || rm -rf "$old"; done
fi
echo "$venv/bin/python"
