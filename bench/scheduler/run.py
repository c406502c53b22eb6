"""Scheduler benchmark: pick throughput, incremental table rebuilds and /v1/resolve over HTTP,
each against a baseline measured in the same run. Prints one JSON object.

    .venv/bin/python -m bench.scheduler.run [--picks N] [--services N] [--seed N]
        [--http-seconds S] [--http-concurrency N]      (--http-seconds 0 skips the HTTP part)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.scheduler.resolve_http import bench_resolve_http
from federation.scheduler.model import (
    ClientPoint,
    ClusterPlacement,
    EndpointState,
    RoutingMode,
    RoutingSpec,
    ServiceSpec,
)
from federation.scheduler.scheduler import Scheduler
from federation.scheduler.table import RoutingTable

CONTINENTS = ("NA", "EU", "AS", "SA")
CLUSTERS_PER_CONTINENT = 5
ENDPOINTS_PER_SERVICE = 10
CLUSTERS_PER_SERVICE = 3


def _placements() -> list[ClusterPlacement]:
    return [
        ClusterPlacement(
            name=f"c-{continent}-{index}",
            region_key=f"aws:{continent.lower()}-{index}",
            continent=continent,
            lat=-40.0 + 25 * c_index + index,
            lon=-120.0 + 60 * c_index + 3 * index,
        )
        for c_index, continent in enumerate(CONTINENTS)
        for index in range(CLUSTERS_PER_CONTINENT)
    ]


def _clients(placements: list[ClusterPlacement]) -> list[ClientPoint]:
    # One client region per continent: 4 cached tables per service.
    firsts = [p for p in placements if p.name.endswith("-0")]
    return [ClientPoint(p.region_key, p.continent, p.lat + 0.5, p.lon + 0.5) for p in firsts]


def _load(services: int, seed: int) -> tuple[Scheduler, list[ClientPoint], list[str]]:
    rng = random.Random(seed)
    scheduler = Scheduler()
    placements = _placements()
    for placement in placements:
        scheduler.set_cluster(placement)
    added: list[EndpointState] = []
    for number in range(services):
        name = f"svc-{number}.prod"
        scheduler.set_service(ServiceSpec(name, 8080, RoutingSpec(RoutingMode.GEO)))
        clusters = rng.sample(placements, CLUSTERS_PER_SERVICE)
        for index in range(ENDPOINTS_PER_SERVICE):
            cluster = clusters[index % CLUSTERS_PER_SERVICE].name
            added.append(
                EndpointState(
                    key=f"{name}/{index}",
                    cluster=cluster,
                    address=f"127.0.{number % 250}.{index + 1}",
                    port=9000 + index,
                    weight=rng.randint(1, 4),
                    healthy=rng.random() > 0.2,
                    service=name,
                )
            )
    scheduler.apply_endpoints(added=added)
    return scheduler, _clients(placements), [e.key for e in added]


def _resolve_all(scheduler: Scheduler, services: int, clients: list[ClientPoint]) -> None:
    for number in range(services):
        for client in clients:
            scheduler.resolve(f"svc-{number}.prod", client)


def _timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _full_rebuild(services: int, seed: int) -> tuple[Scheduler, list[str], float]:
    """Fresh state, then every (service, client region) table built from scratch, timed."""
    scheduler, clients, keys = _load(services, seed)
    elapsed = _timed(lambda: _resolve_all(scheduler, services, clients))
    return scheduler, keys, elapsed


def bench_rebuild(services: int, seed: int, rounds: int) -> dict[str, Any]:
    scheduler, keys, full_from_scratch = _full_rebuild(services, seed)
    tables = scheduler.cached_tables
    rng = random.Random(seed + 1)
    incremental: list[float] = []
    rebuilt: list[int] = []
    for _ in range(rounds):
        key = rng.choice(keys)
        started = time.perf_counter()
        scheduler.set_health(key, healthy=rng.random() < 0.5)
        rebuilt.append(scheduler.refresh())
        incremental.append(time.perf_counter() - started)
    # Baseline twice more, so one slow first pass (imports, allocator warm-up) is not the number.
    baselines = [full_from_scratch, *(_full_rebuild(services, seed)[2] for _ in range(2))]
    full = statistics.median(baselines)
    median_incremental = statistics.median(incremental)
    return {
        "services": services,
        "endpoints": len(keys),
        "tables": tables,
        "incremental_health_change_ms_median": round(median_incremental * 1e3, 4),
        "incremental_health_change_ms_max": round(max(incremental) * 1e3, 4),
        "tables_rebuilt_per_change_median": statistics.median(rebuilt),
        "baseline_full_rebuild_ms_median": round(full * 1e3, 1),
        "speedup": round(full / median_incremental, 1),
        "rounds": rounds,
    }


def bench_picks(picks: int, seed: int) -> dict[str, Any]:
    # One service split over all 20 clusters by weight, 50 endpoints each, some unhealthy.
    placements = _placements()
    scheduler = Scheduler()
    for placement in placements:
        scheduler.set_cluster(placement)
    rng = random.Random(seed)
    weights_by_cluster = {p.name: rng.randint(1, 10) for p in placements}
    spec = RoutingSpec(RoutingMode.WEIGHTED, weights=weights_by_cluster)
    scheduler.set_service(ServiceSpec("wide.prod", 8080, spec))
    scheduler.apply_endpoints(
        added=[
            EndpointState(
                key=f"wide/{placement.name}/{index}",
                cluster=placement.name,
                address="127.0.0.1",
                port=10000 + index,
                weight=rng.randint(1, 4),
                healthy=rng.random() > 0.2,
                service="wide.prod",
            )
            for placement in placements
            for index in range(50)
        ]
    )
    client = _clients(placements)[0]
    table = scheduler.resolve("wide.prod", client).table
    population = list(range(len(table.choices)))
    weights = _alias_weights(table)
    cumulative: list[float] = []
    running = 0.0
    for weight in weights:
        running += weight
        cumulative.append(running)

    def alias_picks() -> None:
        pick_rng = random.Random(seed)
        for _ in range(picks):
            table.pick(pick_rng)

    # random.choices(weights=...) re-sums all weights on every call (O(n)), so it gets fewer
    # picks to keep the run short; the rates stay comparable.
    slow_picks = max(1, picks // 20)

    def choices_picks() -> None:
        pick_rng = random.Random(seed)
        for _ in range(slow_picks):
            pick_rng.choices(population, weights)

    def choices_cumulative_picks() -> None:
        pick_rng = random.Random(seed)
        for _ in range(picks):
            pick_rng.choices(population, cum_weights=cumulative)

    alias_s = _timed(alias_picks)
    choices_s = _timed(choices_picks)
    cumulative_s = _timed(choices_cumulative_picks)
    return {
        "endpoints_in_table": len(population),
        "picks": picks,
        "alias_picks_per_s": round(picks / alias_s),
        "baseline_random_choices_weights_per_s": round(slow_picks / choices_s),
        "baseline_random_choices_weights_picks": slow_picks,
        "baseline_random_choices_cum_weights_per_s": round(picks / cumulative_s),
        "speedup_vs_choices_weights": round((choices_s / slow_picks) / (alias_s / picks), 2),
        "speedup_vs_choices_cum_weights": round(cumulative_s / alias_s, 2),
    }


def _alias_weights(table: RoutingTable) -> list[float]:
    """Recover each column's probability from the alias table, so both samplers draw from the
    very same distribution."""
    size = len(table.alias.keep)
    mass = [0.0] * size
    for column, keep in enumerate(table.alias.keep):
        mass[column] += keep / size
        mass[table.alias.alias[column]] += (1.0 - keep) / size
    return mass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picks", type=int, default=1_000_000)
    parser.add_argument("--services", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--http-seconds", type=float, default=5.0)
    parser.add_argument("--http-concurrency", type=int, default=16)
    args = parser.parse_args()
    started = time.perf_counter()
    result: dict[str, Any] = {
        "benchmark": "scheduler",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "pick": bench_picks(args.picks, args.seed),
        "rebuild": bench_rebuild(args.services, args.seed, args.rounds),
    }
    if args.http_seconds > 0:
        result["resolve_http"] = bench_resolve_http(args.http_seconds, args.http_concurrency)
    result["runtime_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
