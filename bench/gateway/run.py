"""Gateway benchmark: one TLS backend reached directly and through nginx ``stream``
(ssl_preread), HAProxy ``mode tcp`` (req.ssl_sni), ``meshfed gateway --mode passthrough`` and
a bare Python relay (the floor any asyncio proxy pays), all with one worker on 127.0.0.1,
measured side by side in one run. Prints one JSON object.

Throughput on a 2-core machine is bound by the client and swings between runs; the proxy's CPU
time per connection/request/MiB (user + sys of its process tree, from /proc) is the steady
figure, so every measurement reports both."""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import signal
import ssl
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import Any

from bench.gateway import client, wrk
from bench.gateway.cpu import tree_cpu_seconds
from bench.gateway.install import MissingToolsError, ensure_tools
from bench.gateway.peers import Peer, PeerStartError, log_tail, start_all

WARMUP_SECONDS = 0.5


class BenchError(RuntimeError):
    pass


def _measure(
    proxy: Peer | None, backend: Peer, unit: str, action: Callable[[], tuple[int, dict[str, Any]]]
) -> dict[str, Any]:
    """Runs ``action`` (units completed, figures) and adds each process's CPU µs per unit."""
    peers = {"proxy": proxy, "backend": backend}
    watched = {role: peer for role, peer in peers.items() if peer is not None}
    before = {role: tree_cpu_seconds(peer.pid) for role, peer in watched.items()}
    count, figures = action()
    if count == 0:
        raise BenchError(f"no {unit} completed: {figures}")
    for role in peers:
        used = tree_cpu_seconds(watched[role].pid) - before[role] if role in watched else None
        figures[f"{role}_cpu_us_per_{unit}"] = (
            None if used is None else round(used * 1e6 / count, 1)
        )
    return figures


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def measure_path(
    name: str,
    directory: Path,
    port: int,
    proxy: Peer | None,
    backend: Peer,
    context: ssl.SSLContext,
    args: argparse.Namespace,
) -> dict[str, Any]:
    warm = client.new_connections(port, context, 1, WARMUP_SECONDS)
    if warm.count == 0:
        raise BenchError(
            f"no request got through the {name} path (127.0.0.1:{port}) in {WARMUP_SECONDS}s "
            f"of warm-up; last log lines:\n{log_tail(directory / 'peers.log')}"
        )

    def new_connections() -> tuple[int, dict[str, Any]]:
        run = client.new_connections(port, context, args.threads, args.seconds)
        return run.count, {
            "connections_per_s": round(run.rate, 1),
            "p50_ms": _round(run.percentile_ms(50)),
            "p99_ms": _round(run.percentile_ms(99)),
            "errors": run.errors,
        }

    def keepalive() -> tuple[int, dict[str, Any]]:
        result = wrk.keepalive(directory, port, args.connections, args.seconds)
        return result.requests, {
            "requests_per_s": round(result.rate, 1),
            "p50_ms": _round(result.p50_ms, 3),
            "p99_ms": _round(result.p99_ms, 3),
            "errors": result.errors,
        }

    def transfer() -> tuple[int, dict[str, Any]]:
        run = client.downloads(port, context, args.download_threads, args.seconds)
        return run.count, {
            "mib_per_s": round(run.rate, 1),
            "p50_ms": _round(run.percentile_ms(50)),
            "p99_ms": _round(run.percentile_ms(99)),
            "errors": run.errors,
        }

    return {
        "new_connections": _measure(proxy, backend, "connection", new_connections),
        "keepalive": _measure(proxy, backend, "request", keepalive),
        "transfer_1mib": _measure(proxy, backend, "mib", transfer),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 3)


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    keys = {
        "new_connections": ("connections_per_s", "proxy_cpu_us_per_connection"),
        "keepalive": ("requests_per_s", "proxy_cpu_us_per_request"),
        "transfer_1mib": ("mib_per_s", "proxy_cpu_us_per_mib"),
    }
    out: dict[str, Any] = {}
    # The floor's own ratios say what any Python asyncio proxy pays; meshfed over the floor
    # says what meshfed adds to that.
    for ours, peer in (
        ("meshfed", "nginx"),
        ("meshfed", "haproxy"),
        ("meshfed", "python_floor"),
        ("python_floor", "nginx"),
    ):
        out[f"{ours}/{peer}"] = {
            f"{kind}.{key}": _ratio(results[ours][kind][key], results[peer][kind][key])
            for kind, pair in keys.items()
            for key in pair
        }
    out["meshfed/direct"] = {
        "transfer_1mib.mib_per_s": _ratio(
            results["meshfed"]["transfer_1mib"]["mib_per_s"],
            results["direct"]["transfer_1mib"]["mib_per_s"],
        )
    }
    return out


def targets(ratio: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets, read on throughput as stated and on CPU per connection beside it."""
    checks: dict[str, Any] = {}
    for peer in ("nginx", "haproxy"):
        rate = ratio[f"meshfed/{peer}"]["new_connections.connections_per_s"]
        cpu = ratio[f"meshfed/{peer}"]["new_connections.proxy_cpu_us_per_connection"]
        checks[f"new_connections_vs_{peer}"] = {
            "target": ">= 1.0x",
            "throughput_ratio": rate,
            "met": rate is not None and rate >= 1.0,
            "cpu_per_connection_ratio": cpu,
        }
    direct = ratio["meshfed/direct"]["transfer_1mib.mib_per_s"]
    checks["transfer_1mib_vs_direct"] = {
        "target": ">= 0.9x",
        "throughput_ratio": direct,
        "met": direct is not None and direct >= 0.9,
    }
    return checks


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    return {
        "cpu": model,
        "cores": len(
            [x for x in Path("/proc/cpuinfo").read_text().splitlines() if x.startswith("processor")]
        ),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    ensure_tools()
    with tempfile.TemporaryDirectory(prefix="meshfed-bench-gw-") as tmp, ExitStack() as stack:
        directory = Path(tmp)
        backend, proxies = start_all(stack, directory)
        context = client.client_context(directory / "backend.crt")
        paths: dict[str, Peer | None] = {"direct": None}
        paths.update({peer.name: peer for peer in proxies})
        results = {
            name: measure_path(
                name,
                directory,
                proxy.port if proxy else backend.port,
                proxy,
                backend,
                context,
                args,
            )
            for name, proxy in paths.items()
        }
    ratio = ratios(results)
    return {
        "benchmark": "gateway",
        "machine": machine(),
        "settings": {
            "seconds_per_measurement": args.seconds,
            "new_connection_threads": args.threads,
            "wrk_connections": args.connections,
            "download_threads": args.download_threads,
            "workers_per_proxy": 1,
            # meshfed gateway runs on uvloop when the interpreter can import it.
            "meshfed_event_loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        },
        "paths": results,
        "ratios": ratio,
        "targets": targets(ratio),
    }


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turns SIGTERM into an exception so the ExitStack stops every process this run started.
    raise SystemExit(128 + signum)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement and path")
    parser.add_argument("--threads", type=int, default=4, help="new-connection client threads")
    parser.add_argument("--connections", type=int, default=16, help="wrk kept-alive connections")
    parser.add_argument("--download-threads", type=int, default=2, help="1 MiB download threads")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        report = run(args)
    except (MissingToolsError, PeerStartError, BenchError, wrk.WrkError) as exc:
        print(f"bench.gateway: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("bench.gateway: interrupted; every process it started is stopped", file=sys.stderr)
        sys.exit(130)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
