"""Run a call that might hang, failing the test instead of hanging the suite."""

import threading
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def finishes_within(seconds: float, call: Callable[[], T]) -> T:
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        pytest.fail(f"{call} did not finish within {seconds} s")
    if failure:
        raise failure[0]
    return outcome[0]
