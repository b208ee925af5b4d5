#!/usr/bin/env bash
# Runs the Python client's checks: ruff, mypy, then pytest (unit tests, then integration tests
# against a real control plane, controller, router and agent that the tests start). Needs the
# control-plane build (`make cluster-build`) and the npm install of the repository.
# Arguments go to pytest, e.g. `clients/python/scripts/test.sh tests/unit -k token`.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
py=$(bash "$here/scripts/venv.sh")
cd "$here"
"$py" -m ruff check src tests
"$py" -m ruff format --check src tests
"$py" -m mypy
# tests/e2e needs the local cluster: the cluster suite (e2e/test/cluster) runs it.
if [ $# -eq 0 ]; then set -- tests/unit tests/integration; fi
# -p no:cacheprovider: nothing is written into the source tree.
exec "$py" -m pytest -p no:cacheprovider "$@"
