#!/usr/bin/env bash
# Prints the path of a Python interpreter that has `sandbank` installed from this tree, the way
# a user installs it (`pip install ./clients/python`, not editable), plus the test and lint tools.
# Used by the tests, the benchmark, `make up`'s quickstart and the local-cluster suite.
# The virtualenv lives in the cache ($SANDBANK_CACHE, default ~/.cache/sandbank), rebuilt when
# pyproject.toml or the interpreter changes; the package itself is reinstalled on every call
# (a few seconds) so it always matches the sources.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
log() { echo "[sandbank-python] $*" >&2; }

python=${PYTHON:-python3}
command -v "$python" >/dev/null || { log "python3 (>= 3.10) is required"; exit 1; }
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { log "python >= 3.10 is required, found $("$python" --version 2>&1)"; exit 1; }
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  # Debian splits the venv module out of python3.
  [ "$(id -u)" = 0 ] || { log "the venv module is missing: apt-get install python3-venv"; exit 1; }
  log "installing python3-venv (apt)"
  apt-get install -y -qq --no-install-recommends python3-venv >&2 || { log "apt-get install python3-venv failed"; exit 1; }
fi

cache=${SANDBANK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sandbank}
key=$( { "$python" --version 2>&1; sha256sum <"$here/pyproject.toml"; } | sha256sum | cut -c1-12)
venv=$cache/python-venv-$key
# .ready is written last: a venv without it (an interrupted install) is made again.
if [ ! -f "$venv/.ready" ] || [ ! -x "$venv/bin/python" ]; then
  log "creating $venv (dependencies of clients/python, pytest, ruff, mypy)"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${here}[test,dev]" >&2
  touch "$venv/.ready"
  # Older virtualenvs of other keys are superseded.
  for old in "$cache"/python-venv-*; do [ "$old" = "$venv" ] || rm -rf "$old"; done
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --force-reinstall "$here" >&2
echo "$venv/bin/python"
