"""The access log: one JSON object a line for every connection, written when it ends.

The event loop only appends each finished connection to a deque; a writer thread wakes every
``flush_interval``, formats what has gathered and writes it in one call. Waking a thread for
every line cost the gateway about a third of its CPU per new connection (a profile of the
new-connection benchmark), and a slow disk or a blocked stdout pipe must never stall the loop
that relays bytes. When the writer falls ``max_pending`` lines behind, further lines are
dropped and counted rather than held without bound.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal, TextIO

from federation.gateway.events import PROGRESS_KINDS, ConnectionEvent

log = logging.getLogger("meshfed.gateway")
DropReason = Literal["behind", "write_error"]

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
DEFAULT_FLUSH_INTERVAL = 0.1
DEFAULT_MAX_PENDING = 100_000


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


class AccessLogError(OSError):
    """The access log's destination cannot be written."""


Dropped = Callable[[DropReason, int], None]


class AccessLog:
    """``destination`` is a file path, or ``-`` for standard output. ``on_dropped`` hears how
    many lines were lost and why: ``behind`` (called on the event loop) when the writer fell
    ``max_pending`` lines behind, ``write_error`` (called on the writer thread) when the
    destination refused them; it must be thread-safe, as Prometheus counters are."""

    def __init__(
        self,
        destination: str,
        *,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        max_pending: int = DEFAULT_MAX_PENDING,
        on_dropped: Dropped | None = None,
    ) -> None:
        self._destination = destination
        self._flush_interval = flush_interval
        self._max_pending = max_pending
        self._on_dropped = on_dropped
        # deque.append and popleft are atomic, so the loop and the writer share it unlocked.
        self._pending: deque[tuple[ConnectionEvent, float]] = deque()
        self._stopping = threading.Event()
        self._writer = threading.Thread(target=self._write_until_stopped, name="access-log")
        self._stream: TextIO | None = None
        self._failing = False

    def __enter__(self) -> AccessLog:
        if self._destination == "-":
            self._stream = sys.stdout
        else:
            # Opened here, not in the thread: a path that cannot be written fails the start.
            try:
                self._stream = open(self._destination, "a", encoding="utf-8")
            except OSError as error:
                raise AccessLogError(
                    f"--access-log {self._destination}: cannot open it for appending "
                    f"({error.strerror}); pick a writable path, or - for standard output"
                ) from None
        self._writer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The writer drains every line observed before this before it ends.
        self._stopping.set()
        self._writer.join()
        if self._stream is not None and self._stream is not sys.stdout:
            # close() flushes; the writer already counted and reported what it lost.
            with contextlib.suppress(OSError):
                self._stream.close()

    def observe(self, event: ConnectionEvent) -> None:
        if event.kind in PROGRESS_KINDS:
            return
        if len(self._pending) >= self._max_pending:
            if self._on_dropped is not None:
                self._on_dropped("behind", 1)
            return
        self._pending.append((event, time.time()))

    def _write_until_stopped(self) -> None:
        while not self._stopping.wait(self._flush_interval):
            self._write_pending()
        self._write_pending()

    def _write_pending(self) -> None:
        pending, stream = self._pending, self._stream
        assert stream is not None
        lines = []
        while pending:
            event, now = pending.popleft()
            lines.append(json.dumps(access_record(event, now), separators=(",", ":")) + "\n")
        if not lines:
            return
        try:
            stream.write("".join(lines))
            stream.flush()
        except OSError as error:
            # A full disk or a closed pipe may come back: keep the writer alive, tell once.
            if not self._failing:
                log.error(
                    "access log %s cannot be written; lines are dropped until it can",
                    self._destination,
                    extra={"error": str(error)},
                )
            self._failing = True
            if self._on_dropped is not None:
                self._on_dropped("write_error", len(lines))
            return
        if self._failing:
            log.warning("access log %s is written again", self._destination)
        self._failing = False
