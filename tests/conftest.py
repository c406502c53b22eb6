"""Suite-wide settings."""

from __future__ import annotations

import gc

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    # Everything collection imported lives as long as the run. Frozen, it is no longer walked
    # by each full collection, whose pauses otherwise grow towards a second as the run goes on
    # and stall tests that time their sockets.
    gc.collect()
    gc.freeze()
