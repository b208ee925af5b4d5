#!/usr/bin/env bash
# runc-compatible entry point for containerd's runc.v2 shim, used as the BinaryName of the CRI
# handler "runsc" (RuntimeClass gvisor). cluster-up.sh copies it to <state>/bin/runsc-cri-wrapper
# and fills in the @…@ paths.
#  - the pod sandbox ("pause") container  -> runc (it owns the pod netns that CNI set up)
#  - every app container                  -> its own gVisor sandbox: runsc --platform=systrap
#    --network=host, i.e. gVisor's hostinet inside the pod's network namespace (named in the spec)
# Why one sandbox per app container: with runsc's multi-container mode under the runc shim,
# `start` hands its stdio to the sub-container, the shim never sees EOF and StartContainer hangs.
RUNC=@RUNC@
RUNSC=@RUNSC@
MARKS=@STATE@/wrapper-state
LOG=@STATE@/logs/runsc-cri-wrapper.log
RUNSC_FLAGS=(--platform=systrap --network=host)

echo "$(date +%T.%N) $*" >>"$LOG"
sub="" bundle="" prev=""
for a in "$@"; do
  case $prev in --bundle | -b) bundle=$a ;; esac
  case $a in --bundle=*) bundle=${a#--bundle=} ;; esac
  if [ -z "$sub" ]; then
    case $a in
      create | start | state | kill | delete | exec | ps | events | update | pause | resume | features | checkpoint | restore | run | spec | list) sub=$a ;;
    esac
  fi
  prev=$a
done
id=${*: -1}

if [ "$sub" = create ]; then
  [ -n "$bundle" ] || bundle=$PWD
  cfg=$bundle/config.json
  if [ "$(jq -r '.annotations["io.kubernetes.cri.container-type"] // ""' "$cfg")" = sandbox ]; then
    echo runc >"$MARKS/$id"
    exec "$RUNC" "$@"
  fi
  # An app container: make it a standalone sandbox (drop the CRI grouping annotations) and give it
  # the pod's hostname (it would join the pause container's UTS namespace, which runsc ignores).
  hostname_file=$(jq -r '[.mounts[]? | select(.destination == "/etc/hostname") | .source][0] // ""' "$cfg")
  hn=""
  [ -n "$hostname_file" ] && [ -f "$hostname_file" ] && hn=$(head -n1 "$hostname_file")
  jq --arg hn "$hn" 'del(.annotations["io.kubernetes.cri.container-type"], .annotations["io.kubernetes.cri.sandbox-id"])
      | if $hn != "" then .hostname = $hn else . end' "$cfg" >"$cfg.sandbank" && mv -f "$cfg.sandbank" "$cfg"
  echo runsc >"$MARKS/$id"
fi

runtime=runsc
[ "$sub" = features ] && runtime=runc
for a in "$@"; do
  case $a in */* | "") continue ;; esac
  if [ -f "$MARKS/$a" ]; then runtime=$(cat "$MARKS/$a"); break; fi
done

if [ "$sub" = delete ]; then
  # forget the container once it is deleted
  if [ "$runtime" = runc ]; then "$RUNC" "$@"; else "$RUNSC" "${RUNSC_FLAGS[@]}" "$@"; fi
  rc=$?
  [ "$rc" != 0 ] || rm -f "$MARKS/$id"
  exit "$rc"
fi
[ "$runtime" = runc ] && exec "$RUNC" "$@"

if [ "$sub" = kill ]; then
  # runsc says "… is not running" for a sandbox that is gone; containerd 1.6 only treats
  # "container not running" as "already stopped" (otherwise StopContainer fails or times out).
  out=$("$RUNSC" "${RUNSC_FLAGS[@]}" "$@" 2>&1)
  rc=$?
  if [ "$rc" != 0 ] && printf '%s' "$out" | grep -q 'is not running'; then
    echo "container not running" >&2
    exit 1
  fi
  [ -z "$out" ] || printf '%s\n' "$out" >&2
  exit "$rc"
fi
exec "$RUNSC" "${RUNSC_FLAGS[@]}" "$@"
