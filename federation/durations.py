"""Durations as people write them in config: ``500ms``, ``30s``, ``1h30m``, ``365d``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
PATTERN = r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"


class DurationError(ValueError):
    pass


def parse_duration(text: str) -> timedelta:
    """Parse a sequence of number+unit parts; units are ms, s, m, h, d."""
    compact = text.strip()
    if not compact:
        raise DurationError("empty duration: write a number with a unit, such as 30s")
    seconds = 0.0
    position = 0
    for match in _PART.finditer(compact):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(compact):
        raise DurationError(
            f"{text!r} is not a duration: write a number with a unit "
            "(ms, s, m, h, d), such as 500ms, 30s, 24h or 1h30m"
        )
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest spelling that parses back to the same value."""
    millis = round(value.total_seconds() * 1000)
    if millis == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    if millis:
        parts.append(f"{millis}ms")
    return "".join(parts)


def _coerce(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        # A bare number is ambiguous (seconds? milliseconds?); make the author say.
        raise DurationError(f"{value!r} has no unit: write it as {value}s or {value}ms")
    if isinstance(value, str):
        return parse_duration(value)
    raise DurationError(f"expected a duration string such as 30s, not {type(value).__name__}")


Duration = Annotated[
    timedelta,
    BeforeValidator(_coerce),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": PATTERN, "examples": ["500ms", "30s", "24h"]}),
]
