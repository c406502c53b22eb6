"""The one Retry-After reading every cloud adapter shares (RFC 9110 §10.2.3)."""

from __future__ import annotations

import email.utils
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers.calls import retry_after_seconds

NOW = 784_111_777.0  # Sun, 06 Nov 1994 08:49:37 GMT, the date RFC 9110 uses in its examples


@pytest.mark.parametrize(
    ("source", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        ("0.05", 0.05),
        ("Sun, 06 Nov 1994 08:50:07 GMT", 30.0),  # IMF-fixdate
        ("Sunday, 06-Nov-94 08:50:07 GMT", 30.0),  # obsolete RFC 850 form
        ("Sun Nov  6 08:50:07 1994", 30.0),  # obsolete asctime form, read as UTC
        ("Sun, 06 Nov 1994 08:00:00 GMT", 0.0),  # already past: retry now
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1e3", None),
        ("inf", None),
        ("nan", None),
        (None, None),
        ({"retry-after": "7"}, 7.0),  # botocore lower-cases header names
        ({"Retry-After": "7"}, 7.0),  # requests keeps them as sent
        ({"RETRY-AFTER": "Sun, 06 Nov 1994 08:50:07 GMT"}, 30.0),
        ({"Content-Type": "application/json"}, None),
        ({}, None),
    ],
)
def test_retry_after_reads_delay_seconds_and_http_dates(
    source: Mapping[str, str] | str | None, seconds: float | None
) -> None:
    assert retry_after_seconds(source, now=lambda: NOW) == seconds


@given(st.integers(min_value=0, max_value=10**6))
def test_an_http_date_waits_until_that_moment(ahead: int) -> None:
    date = email.utils.formatdate(NOW + ahead, usegmt=True)

    assert retry_after_seconds({"Retry-After": date}, now=lambda: NOW) == float(ahead)
