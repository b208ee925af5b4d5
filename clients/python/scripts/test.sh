#!/usr/bin/env bash
# Runs the Python client's checks: ruff, mypy, then pytest (unit tests, then integration tests
# against a real control plane, controller, router and agent that the tests start), then
# tests/upstream: upstream agent-sandbox's Python SDK and Go client, unchanged, against that stack.
# Needs the control-plane build (`make cluster-build`), the npm install of the repository, Go, and
# on the first run the package index and the Go module proxy (both cached afterwards).
# Arguments go to pytest, e.g. `clients/python/scripts/test.sh tests/unit -k token`.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
py=$(bash "$here/scripts/venv.sh")
cd "$here"
"$py" -m ruff check src tests
"$py" -m ruff format --check src tests
"$py" -m mypy
# tests/e2e needs the local cluster: the cluster suite (e2e/test/cluster) runs it.
# -p no:cacheprovider: nothing is written into the source tree.
if [ $# -gt 0 ]; then exec "$py" -m pytest -p no:cacheprovider "$@"; fi
"$py" -m pytest -p no:cacheprovider tests/unit tests/integration
# Then upstream agent-sandbox's own clients, unchanged, against the same kind of stack: its Python
# SDK runs in a virtualenv of its own (scripts/upstream-venv.sh: upstream's SDK and pytest only),
# its Go client through e2e/upstream-go (built by e2e/cluster/build-upstream-go.sh, needs Go).
# Run them alone with `"$(scripts/upstream-venv.sh)" -m pytest -p no:cacheprovider tests/upstream`.
upstream_py=$(bash "$here/scripts/upstream-venv.sh")
exec "$upstream_py" -m pytest -p no:cacheprovider tests/upstream
