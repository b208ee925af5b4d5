#!/usr/bin/env bash
# Started in the background by control-plane-up.sh when SANDBANK_CP_WATCH_PID is set:
# waits for that process to exit, then runs control-plane-down.sh on the state dir, so a test
# run that is killed (no global teardown) leaves no control plane behind.
# Usage: watchdog.sh <state-dir> <pid>
set -euo pipefail
state=$1 watched=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# `tail --pid` sleeps in the kernel-friendly way coreutils offers; `wait` stays interruptible, so
# control-plane-down.sh can stop this watchdog with SIGTERM without leaving the tail behind.
tail --pid="$watched" -f /dev/null &
tail_pid=$!
trap 'kill "$tail_pid" 2>/dev/null; exit 0' TERM
wait "$tail_pid"
echo "process $watched is gone: stopping the control plane in $state"
SANDBANK_CP_IS_WATCHDOG=1 exec bash "$here/control-plane-down.sh" "$state"
