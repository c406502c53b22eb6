"""The access log writes every finished connection, in order, off the event loop, and drops
(counting) rather than growing without bound when its writer falls behind."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from federation.gateway.access_log import FIELDS, AccessLog, AccessLogError
from federation.gateway.events import ConnectionEvent, EventKind
from federation.gateway.routes import Upstream
from federation.gateway.sni import RouteName


def relayed(connection_id: int) -> ConnectionEvent:
    return ConnectionEvent(
        connection_id,
        EventKind.RELAYED,
        client="127.0.0.1:40000",
        sni="svc-a.ns.svc.cluster.local",
        route=RouteName("svc-a.ns"),
        upstream=Upstream("127.0.0.2", 8443, "c1"),
        bytes_in=10,
        bytes_out=20,
        duration=0.5,
    )


def test_every_connection_is_written_once_in_order_by_the_time_it_closes(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    with AccessLog(str(path), flush_interval=0.01) as log:
        for connection_id in range(1, 2001):
            log.observe(relayed(connection_id))
            if connection_id == 1000:
                # A retry on the way is not a line: the connection's end is.
                log.observe(ConnectionEvent(1000, EventKind.UPSTREAM_CONNECT_FAILED))
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert [entry["connection_id"] for entry in entries] == list(range(1, 2001))
    assert all(tuple(entry) == FIELDS for entry in entries)
    assert entries[0]["upstream"] == "127.0.0.2:8443" and entries[0]["outcome"] == "relayed"


def test_lines_reach_the_file_while_the_gateway_runs(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    with AccessLog(str(path), flush_interval=0.01) as log:
        log.observe(relayed(7))
        written = threading.Event()
        for _ in range(500):
            if path.exists() and path.read_text():
                written.set()
                break
            written.wait(0.01)
        assert written.is_set(), "the line was not written within 5 s"
        assert json.loads(path.read_text())["connection_id"] == 7


def test_a_writer_that_falls_behind_drops_and_counts_instead_of_growing(tmp_path: Path) -> None:
    dropped: list[int] = []
    path = tmp_path / "access.log"
    # A writer that never wakes before the end stands in for a blocked disk.
    with AccessLog(
        str(path),
        flush_interval=3600,
        max_pending=100,
        on_dropped=lambda reason, lines: dropped.append((reason, lines)),
    ) as log:
        for connection_id in range(250):
            log.observe(relayed(connection_id))
    assert dropped == [("behind", 1)] * 150
    assert len(path.read_text().splitlines()) == 100


def test_a_destination_that_cannot_be_written_fails_at_start(tmp_path: Path) -> None:
    with (
        pytest.raises(AccessLogError, match=r"missing/access\.log: cannot open"),
        AccessLog(str(tmp_path / "missing" / "access.log")),
    ):
        pass


def test_a_destination_that_refuses_writes_costs_those_lines_and_the_writer_carries_on() -> None:
    dropped: list[tuple[str, int]] = []
    # /dev/full accepts the open and refuses every write, as a full disk does.
    with AccessLog(
        "/dev/full", flush_interval=0.01, on_dropped=lambda *lost: dropped.append(lost)
    ) as log:
        log.observe(relayed(1))
        waited = threading.Event()
        for _ in range(500):
            if dropped:
                break
            waited.wait(0.01)
        log.observe(relayed(2))
    # Both batches were tried (the writer outlived the first failure) and nothing raised.
    assert sum(lines for reason, lines in dropped if reason == "write_error") == 2
