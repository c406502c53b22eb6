"""The access log: one JSON object a line for every connection, written when it ends.

Lines go through a queue to a writer thread (the standard library's QueueListener), so a slow
disk or a blocked stdout pipe never stalls the event loop that relays bytes.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import time
from logging.handlers import QueueHandler, QueueListener
from pathlib import Path
from types import TracebackType
from typing import Any

from federation.gateway.events import PROGRESS_KINDS, ConnectionEvent

FIELDS = (
    "time",
    "connection_id",
    "client",
    "sni",
    "route",
    "peer_id",
    "upstream",
    "upstream_cluster",
    "bytes_in",
    "bytes_out",
    "duration_s",
    "connect_s",
    "outcome",
    "detail",
)


def access_record(event: ConnectionEvent, now: float) -> dict[str, Any]:
    """The log entry for a connection's final event; ``now`` is wall-clock seconds."""
    upstream = event.upstream
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        + f".{int(now % 1 * 1000):03d}Z",
        "connection_id": event.connection_id,
        "client": event.client,
        "sni": event.sni,
        "route": event.route.service if event.route is not None else None,
        "peer_id": event.peer_id,
        "upstream": f"{upstream.address}:{upstream.port}" if upstream is not None else None,
        "upstream_cluster": (upstream.cluster or None) if upstream is not None else None,
        "bytes_in": event.bytes_in,
        "bytes_out": event.bytes_out,
        "duration_s": round(event.duration, 6),
        "connect_s": None if event.connect_seconds is None else round(event.connect_seconds, 6),
        "outcome": event.kind.value,
        "detail": event.detail,
    }


class AccessLog:
    """``destination`` is a file path, or ``-`` for standard output."""

    def __init__(self, destination: str) -> None:
        self._queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        handler: logging.Handler
        if destination == "-":
            handler = logging.StreamHandler(sys.stdout)
        else:
            handler = logging.FileHandler(Path(destination), encoding="utf-8", delay=True)
        handler.setFormatter(logging.Formatter("%(message)s"))
        self._listener = QueueListener(self._queue, handler)
        self._logger = logging.Logger("meshfed.gateway.access")
        self._logger.addHandler(QueueHandler(self._queue))
        self._logger.propagate = False

    def __enter__(self) -> AccessLog:
        self._listener.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Flushes every queued line before the writer thread ends.
        self._listener.stop()
        for handler in self._listener.handlers:
            handler.close()

    def observe(self, event: ConnectionEvent) -> None:
        if event.kind in PROGRESS_KINDS:
            return
        self._logger.info(json.dumps(access_record(event, time.time()), separators=(",", ":")))
