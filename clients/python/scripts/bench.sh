#!/usr/bin/env bash
# The Python client's benchmark (bench/client_round.py); arguments go to it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
py=$(bash "$here/scripts/venv.sh")
exec "$py" "$here/bench/client_round.py" "$@"
