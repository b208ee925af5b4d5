#!/usr/bin/env bash
# `make up`: the local one-node cluster with Sandbank installed and a warm pool ready.
#   1. builds the three images (build-sandbank-images.sh; cached by content hash)
#   2. starts the cluster (cluster-up.sh; a running one is reused)
#   3. loads the images into its containerd (those not loaded into this cluster yet)
#   4. deploys manifests/overlays/local, gives the router its TLS certificate (a CA of this cluster's
#      own, made once per state dir: <state-dir>/router-tls, Secret sandbox-router-tls) and a
#      preview-link key (Secret sandbank-preview-keys, made once per cluster) and waits for the
#      controller and router rollouts
#   4b. the agent-sandbox compatibility router in agent-sandbox-system (upstream's SDK default,
#      docs/agent-sandbox-compat.md): its namespace, its certificate from the same CA
#      (<state-dir>/compat-router-tls), a copy of the agent key, manifests/overlays/local/agent-sandbox-compat
#      (token-less port-forwards for namespace $POOL_NS), and its rollout
#   5. applies manifests/overlays/local/examples (the python-runtime template + pool of 2 with the
#      local runtime image) into namespace default and waits for 2 ready members
#   6. runs examples/quickstart.py with the Python client in a venv under $SANDBANK_CACHE, trusting
#      that CA ($SANDBANK_CA_FILE)
# then prints how to use the cluster. Needs root and the builds of make cluster-build/node-build.
# Usage: up.sh <state-dir> [--no-quickstart]
# Stdout: "started" or "already-up" (the cluster's state before; progress goes to stderr).
. "$(dirname "$0")/lib/common.sh"
. "$CLUSTER_DIR/lib/node.sh"
. "$CLUSTER_DIR/lib/router-tls.sh"

[ $# -ge 1 ] || die "usage: $0 <state-dir> [--no-quickstart]"
mkdir -p "$1"
STATE=$(cd "$1" && pwd)
QUICKSTART=1
[ "${2:-}" != --no-quickstart ] || QUICKSTART=0
REPO=$(cd "$CLUSTER_DIR/../.." && pwd)
KUBECTL_DIR=$SANDBANK_CACHE/kubernetes-$KUBERNETES_VERSION/bin
KUBECTL=$KUBECTL_DIR/kubectl
[ -x "$KUBECTL" ] || die "kubectl is missing: run make cluster-build"
kc() { "$KUBECTL" --kubeconfig "$STATE/kubeconfig" "$@"; }
POOL="python-runtime"
# The namespace of the warm pool and the quickstart, where the e2e suite claims too
# (e2e/test/cluster/helpers.ts POOL_NS); the compatibility router serves port-forwards for it.
POOL_NS=default
COMPAT_NS=agent-sandbox-system
COMPAT_OVERLAY=$REPO/manifests/overlays/local/agent-sandbox-compat
T_ALL=$EPOCHREALTIME
step() {
  STEP_NAME=$1
  T0=$EPOCHREALTIME
  log "== $STEP_NAME"
}
done_step() { log "== $STEP_NAME: done in $(since "$T0")"; }

step "images (controller, router, runtime)"
mapfile -t archives < <(bash "$CLUSTER_DIR/build-sandbank-images.sh" controller router runtime)
[ ${#archives[@]} -eq 3 ] || die "expected three image archives, got: ${archives[*]}"
done_step

step "cluster"
cluster_out=$(bash "$CLUSTER_DIR/cluster-up.sh" "$STATE")
log "cluster: $cluster_out"
done_step

# Which archive of each image this cluster's containerd holds (the file lives and dies with the
# cluster's state dir). An image is imported only when its archive changed.
step "load images"
LOADED=$STATE/sandbank-images
touch "$LOADED"
changed=()
for a in "${archives[@]}"; do
  name=$(basename "$a" | sed -E 's/^localhost_sandbank-([a-z]+)_local-.*/\1/')
  if grep -qxF "$name $(basename "$a")" "$LOADED"; then
    log "$name: $(basename "$a") already loaded"
    continue
  fi
  bash "$CLUSTER_DIR/load-images.sh" "$STATE" "$a"
  sed -i "/^$name /d" "$LOADED"
  echo "$name $(basename "$a")" >>"$LOADED"
  changed+=("$name")
done
done_step

step "deploy manifests/overlays/local"
had_deployments=$(kc -n sandbank-system get deployments -o name 2>/dev/null || true)
# Signed preview links: one random 32-byte key (id local-1) for this cluster, made once, before
# the router pods that read it at startup (they mount the Secret sandbank-preview-keys optionally:
# without it previews are off). The namespace first (its labels come with the overlay below, whose
# apply owns them). The key goes through a pipe only, never a file or a command line.
kc get namespace sandbank-system >/dev/null 2>&1 || kc create namespace sandbank-system >&2
preview_keys=kept
if ! kc -n sandbank-system get secret sandbank-preview-keys >/dev/null 2>&1; then
  printf '%s\n' 'apiVersion: v1' 'kind: Secret' 'type: Opaque' \
    'metadata: { name: sandbank-preview-keys, namespace: sandbank-system }' \
    "data: { local-1: $(head -c 32 /dev/urandom | base64 -w0) }" | kc create -f - >&2
  preview_keys=created
fi
log "preview link keys: $preview_keys (Secret sandbank-system/sandbank-preview-keys)"
kc apply --server-side --force-conflicts --field-manager=sandbank-up -k "$REPO/manifests/overlays/local" >&2
kc wait --for=condition=Established --timeout=60s \
  crd/sandboxes.agents.x-k8s.io crd/sandboxclaims.extensions.agents.x-k8s.io \
  crd/sandboxtemplates.extensions.agents.x-k8s.io crd/sandboxwarmpools.extensions.agents.x-k8s.io >&2
# The router serves only TLS (its pods wait for this Secret). The certificate names the Service's
# DNS names, its ClusterIP (the e2e suite dials it from this machine) and loopback (kubectl
# port-forward); the CA is this cluster's own and goes with the state dir on `make down`.
ROUTER_TLS=$STATE/router-tls
router_ip=$(kc -n sandbank-system get service sandbox-router-svc -o jsonpath='{.spec.clusterIP}')
[ -n "$router_ip" ] || die "Service sandbank-system/sandbox-router-svc has no ClusterIP"
tls_outcome=$(router_tls_ensure "$ROUTER_TLS" "$router_ip")
log "router certificate: $tls_outcome (CA: $ROUTER_TLS/ca.crt)"
kc -n sandbank-system create secret generic sandbox-router-tls --type=kubernetes.io/tls \
  --from-file=tls.crt="$ROUTER_TLS/tls.crt" --from-file=tls.key="$ROUTER_TLS/tls.key" \
  --from-file=ca.crt="$ROUTER_TLS/ca.crt" --dry-run=client -o yaml |
  kc apply --server-side --force-conflicts --field-manager=sandbank-up -f - >&2
# a new certificate reaches a running router within a minute or two (it re-reads the Secret's
# files); restarting it makes that immediate
if [ "$tls_outcome" = created ] && [[ " ${changed[*]} " != *" router "* ]]; then changed+=(router); fi
# a router that started before the preview key existed runs with previews off until restarted
if [ "$preview_keys" = created ] && [[ " ${changed[*]} " != *" router "* ]]; then changed+=(router); fi
# Same tag, new content: running pods keep the old image until they are replaced.
for name in "${changed[@]}"; do
  case $name in
    # the conversion webhook runs the controller's image (its own entry point)
    controller) ds=(deployment.apps/sandbank-controller deployment.apps/sandbank-webhook) ;;
    router) ds=(deployment.apps/sandbox-router-deployment) ;;
    *) continue ;;
  esac
  for d in "${ds[@]}"; do
    if grep -qxF "$d" <<<"$had_deployments"; then
      log "$name image changed: restarting $d"
      kc -n sandbank-system rollout restart "$d" >&2
    fi
  done
done
for d in sandbank-webhook sandbank-controller sandbox-router-deployment; do
  log "waiting for deployment $d"
  kc -n sandbank-system rollout status "deployment/$d" --timeout=180s >&2 ||
    die "deployment $d did not become available (kubectl -n sandbank-system describe deployment $d)"
done
done_step

step "agent-sandbox compatibility router ($COMPAT_NS, manifests/overlays/local/agent-sandbox-compat)"
# The overlay must serve token-less port-forwards where make up's sandboxes are.
compat_yaml=$("$KUBECTL" kustomize "$COMPAT_OVERLAY") || die "kubectl kustomize $COMPAT_OVERLAY failed"
portforward_ns=$(awk '/name: ROUTER_PORTFORWARD_NAMESPACES/ { getline; sub(/^ *value: */, ""); print; exit }' \
  <<<"$compat_yaml")
[ "$portforward_ns" = "$POOL_NS" ] ||
  die "$COMPAT_OVERLAY: ROUTER_PORTFORWARD_NAMESPACES is '$portforward_ns', not $POOL_NS (the pool's namespace)"
had_compat=$(kc -n "$COMPAT_NS" get deployment sandbox-router-deployment -o name 2>/dev/null || true)
# The namespace first, so the Secrets exist before the pods that mount them (its labels come
# with the overlay below, whose apply owns them).
kc get namespace "$COMPAT_NS" >/dev/null 2>&1 || kc create namespace "$COMPAT_NS" >&2
# Its network listener serves TLS (the kubelet probes it; a client tunnelling TLS through
# port-forward verifies 127.0.0.1 or ::1): a certificate for its Service and loopback, signed by
# this cluster's router CA, so $ROUTER_TLS/ca.crt verifies both routers.
COMPAT_TLS=$STATE/compat-router-tls
compat_tls=$(router_tls_ensure_in "$COMPAT_NS" "$ROUTER_TLS" "$COMPAT_TLS")
log "compatibility router certificate: $compat_tls"
kc -n "$COMPAT_NS" create secret generic sandbox-router-tls --type=kubernetes.io/tls \
  --from-file=tls.crt="$COMPAT_TLS/tls.crt" --from-file=tls.key="$COMPAT_TLS/tls.key" \
  --from-file=ca.crt="$COMPAT_TLS/ca.crt" --dry-run=client -o yaml |
  kc apply --server-side --force-conflicts --field-manager=sandbank-up -f - >&2
# The agent key, copied as docs/deploy/any-cluster.md tells the admin of a per-namespace router
# to: the controller made it at its start (rolled out above). The key goes through a pipe only,
# never a file or a command line.
agent_key=$(kc -n sandbank-system get secret sandbank-agent-key -o jsonpath='{.data.key}')
[ -n "$agent_key" ] || die "Secret sandbank-system/sandbank-agent-key has no key (is the controller running?)"
old_key=$(kc -n "$COMPAT_NS" get secret sandbank-agent-key -o jsonpath='{.data.key}' 2>/dev/null || true)
printf '%s\n' 'apiVersion: v1' 'kind: Secret' 'type: Opaque' \
  'metadata: { name: sandbank-agent-key, namespace: '"$COMPAT_NS"' }' "data: { key: $agent_key }" |
  kc apply --server-side --force-conflicts --field-manager=sandbank-up -f - >&2
kc apply --server-side --force-conflicts --field-manager=sandbank-up -k "$COMPAT_OVERLAY" >&2
# Running pods keep an old image, certificate or key until they are replaced.
restart_why=()
[[ " ${changed[*]} " != *" router "* ]] || restart_why+=("router image changed")
[ "$compat_tls" != created ] || restart_why+=("new certificate")
[ "$old_key" = "$agent_key" ] || restart_why+=("new agent key")
if [ -n "$had_compat" ] && [ ${#restart_why[@]} -gt 0 ]; then
  log "restarting $COMPAT_NS/sandbox-router-deployment: ${restart_why[*]}"
  kc -n "$COMPAT_NS" rollout restart deployment/sandbox-router-deployment >&2
fi
unset agent_key old_key
log "waiting for deployment $COMPAT_NS/sandbox-router-deployment"
kc -n "$COMPAT_NS" rollout status deployment/sandbox-router-deployment --timeout=180s >&2 || {
  kc -n "$COMPAT_NS" get pods -o wide >&2 || true
  die "deployment $COMPAT_NS/sandbox-router-deployment did not become available (kubectl -n $COMPAT_NS describe pods)"
}
done_step

step "warm pool $POOL_NS/$POOL (manifests/overlays/local/examples)"
kc apply --server-side --force-conflicts --field-manager=sandbank-up -n "$POOL_NS" \
  -k "$REPO/manifests/overlays/local/examples" >&2
if [[ " ${changed[*]} " == *" runtime "* ]]; then
  # unclaimed members still run the old image; the pool replaces them
  kc -n "$POOL_NS" delete pods -l agents.x-k8s.io/pool --wait=false >&2
fi
log "waiting for $POOL_NS/$POOL to have 2 ready members"
kc -n "$POOL_NS" wait --for=jsonpath='{.status.readyReplicas}'=2 --timeout=180s "sandboxwarmpool/$POOL" >&2 || {
  kc -n "$POOL_NS" get sandboxwarmpools,sandboxes,pods -o wide >&2 || true
  die "warm pool $POOL_NS/$POOL is not ready"
}
done_step

if [ "$QUICKSTART" = 1 ]; then
  step "quickstart (examples/quickstart.py, the Python client in a venv under $SANDBANK_CACHE)"
  python=$(bash "$REPO/clients/python/scripts/venv.sh") || die "the Python client could not be installed"
  # the client's dev mode runs `kubectl port-forward`: the cluster's own kubectl, on PATH
  KUBECONFIG=$STATE/kubeconfig PATH=$KUBECTL_DIR:$PATH SANDBANK_CA_FILE=$ROUTER_TLS/ca.crt \
    "$python" "$REPO/examples/quickstart.py" --namespace "$POOL_NS" --template "$POOL" >&2 ||
    die "the quickstart failed"
  done_step
fi

T0=$T_ALL
cat >&2 <<EOF

Sandbank is up: controller and router in namespace sandbank-system, a warm pool of 2 python-runtime
sandboxes (gVisor) in namespace $POOL_NS, and the agent-sandbox compatibility router
(sandbox-router-svc:8080 in $COMPAT_NS: upstream's SDK and Go client work unchanged in
namespace $POOL_NS, through kubectl port-forward). Use it from this shell:

  export KUBECONFIG=$STATE/kubeconfig
  export PATH=$KUBECTL_DIR:\$PATH
  export SANDBANK_CA_FILE=$ROUTER_TLS/ca.crt   # the router's CA (it serves only TLS)
  kubectl get sandboxwarmpools,sandboxclaims,sandboxes -n $POOL_NS
  kubectl apply -n $POOL_NS -f examples/claim.yaml     # a claim alone binds a warm sandbox

  ${python:-python3} - <<'PY'
  from agentic_sandbox import SandboxClient
  with SandboxClient(template_name="$POOL", namespace="$POOL_NS") as sb:
      print(sb.run("echo hello").stdout)
  PY

make down stops everything and checks that nothing is left.
EOF
log "make up: total $(since "$T0")"
# for scripts (the e2e suite): whether the cluster was started or already ran
echo "$cluster_out"
