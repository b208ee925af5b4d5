"""Benchmark: the whole `with SandboxClient(...) as sb: sb.run("true")` round in direct mode on a
warm pool: create the claim, watch it bind and turn Ready, run one command through the router,
delete the claim.

Without --api-url: against the real stack of the integration tests (real apiserver, controller,
router and agent; pods on kwok), so the number is the client + control plane + router + agent,
without a kubelet. Writes bench/results/python-client-round-direct.json (same fields as the
TypeScript benchmarks: name, unit, value = p50, n, p50, p95, p99, …, target, params, env).

With --api-url (and KUBECONFIG, SANDBANK_ROUTER_TOKEN, kubectl on PATH or $KUBECTL): against a
running cluster's router and warm pool, e.g. the local cluster's (make bench-cluster runs it
from bench/benchmarks/cluster-python-client.bench.ts); prints {"samples", "warmRounds",
"python"} as JSON on stdout and writes no file.

    python bench/client_round.py [--rounds 100] [--out ../../bench/results]
    python bench/client_round.py --api-url http://<router> --namespace default --template T --pool P
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentic_sandbox import SandboxClient  # noqa: E402
from tests import stack as stack_mod  # noqa: E402
from tests.stack import POOL, REPO, TEMPLATE  # noqa: E402

TARGET_MS = 100.0


def percentile(sorted_samples: list[float], q: float) -> float:
    # Nearest rank, as bench/src/stats.ts computes it.
    rank = max(1, int(-(-q * len(sorted_samples) // 1)))
    return sorted_samples[min(rank, len(sorted_samples)) - 1]


def environment() -> dict[str, object]:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "cores": os.cpu_count(),
        "memoryGiB": round(mem),
        "commit": commit.stdout.strip() or "unknown",
        "ci": bool(os.environ.get("CI")),
    }


@dataclass
class Target:
    """Where the rounds run: a router, a namespace with a warm pool, and how to tell it is full."""

    api_url: str
    namespace: str
    template: str
    pool: str
    token: str
    server_port: int
    pool_full: Callable[[], bool]


def measure(target: Target, warmup: int, rounds: int) -> tuple[list[float], int]:
    """Times `rounds` with-blocks after `warmup` untimed ones; also counts rounds served warm."""
    samples: list[float] = []
    warm = 0
    for i in range(warmup + rounds):
        # Each round starts with a full pool, as a user arriving at an idle cluster would.
        deadline = time.monotonic() + 120
        while not target.pool_full():
            if time.monotonic() > deadline:
                raise SystemExit(f"warm pool {target.pool} not full after 120 s")
            time.sleep(0.05)
        started = time.perf_counter()
        with SandboxClient(
            template_name=target.template,
            namespace=target.namespace,
            api_url=target.api_url,
            server_port=target.server_port,
            token=target.token,
        ) as sb:
            if sb.run("true").exit_code != 0:
                raise SystemExit("`true` failed in the sandbox")
            pod = sb.pod_name or ""
        elapsed_ms = (time.perf_counter() - started) * 1000
        if i >= warmup:
            samples.append(elapsed_ms)
            warm += pod.startswith(f"{target.pool}-")
    return samples, warm


def cluster_pool_full(namespace: str, pool: str) -> Callable[[], bool]:
    """Full: every member of the pool Ready and no pod of the namespace still terminating (a
    sandbox being torn down competes for the node's two cores with the next round)."""

    def check() -> bool:
        out = subprocess.run(
            [os.environ.get("KUBECTL", "kubectl"), "get", "sandboxwarmpools,pods", "-n", namespace, "-o", "json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        items = json.loads(out)["items"]
        found = next(o for o in items if o["kind"] == "SandboxWarmPool" and o["metadata"]["name"] == pool)
        want = found["spec"].get("replicas", 0)
        ready = (found.get("status") or {}).get("readyReplicas", 0)
        terminating = any(o["metadata"].get("deletionTimestamp") for o in items if o["kind"] == "Pod")
        return bool(ready == want and not terminating)

    return check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    parser.add_argument("--api-url", help="a running cluster's router; KUBECONFIG and SANDBANK_ROUTER_TOKEN set")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--template", default="python-runtime")
    parser.add_argument("--pool", default="python-runtime")
    args = parser.parse_args()

    if args.api_url:
        samples, warm = measure(
            Target(
                api_url=args.api_url,
                namespace=args.namespace,
                template=args.template,
                pool=args.pool,
                token=os.environ["SANDBANK_ROUTER_TOKEN"],
                server_port=8888,
                pool_full=cluster_pool_full(args.namespace, args.pool),
            ),
            args.warmup,
            args.rounds,
        )
        print(json.dumps({"samples": samples, "warmRounds": warm, "python": platform.python_version()}))
        return

    stack = stack_mod.start()
    try:
        with stack.as_user():
            samples, warm = measure(
                Target(
                    api_url=stack.router_url,
                    namespace=stack.namespace,
                    template=TEMPLATE,
                    pool=POOL,
                    token=stack.token,
                    server_port=stack.agent_legacy_port,
                    pool_full=lambda: stack.ready_warm_pods() >= stack_mod.POOL_REPLICAS,
                ),
                args.warmup,
                args.rounds,
            )
    finally:
        stack_mod.stop(stack)

    s = sorted(samples)
    p50 = percentile(s, 0.5)
    result = {
        "name": "python-client-round-direct",
        "unit": "ms",
        "value": p50,
        "n": len(s),
        "p50": p50,
        "p95": percentile(s, 0.95),
        "p99": percentile(s, 0.99),
        "mean": statistics.fmean(s),
        "min": s[0],
        "max": s[-1],
        "target": {"value": TARGET_MS, "met": p50 <= TARGET_MS},
        "params": {
            "rounds": args.rounds,
            "round": 'with SandboxClient(api_url=router) as sb: sb.run("true")',
            "warmRounds": warm,
            "pods": "kwok (no kubelet); real apiserver, controller, router, agent",
        },
        "env": environment(),
        "at": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{result['name']}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{result['name']}: p50 {p50:.1f} ms, p95 {result['p95']:.1f} ms over {len(s)} rounds ({warm} warm) -> {path}"
    )


if __name__ == "__main__":
    main()
