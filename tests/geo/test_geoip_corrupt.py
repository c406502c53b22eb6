import contextlib
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.errors import GeoDatabaseError
from geo.geoip import GeoIPDatabase
from tests.geo.conftest import NON_PUBLIC, PUBLIC
from tests.geo.deadline import finishes_within
from tests.support.mmdb_factory import (
    corrupt_data_section,
    corrupt_search_tree,
    corrupt_tree_cut_short,
    corrupt_truncated,
    metadata_marker_only,
    write_city_db,
)

Corruption = Callable[[Path, Path], Path]
CORRUPTIONS: dict[str, Corruption] = {
    "truncated": corrupt_truncated,
    "truncated to a few bytes": lambda src, dst: corrupt_truncated(src, dst, 0.01),
    "search tree cut short": corrupt_tree_cut_short,
    "garbled search tree": corrupt_search_tree,
    "metadata marker only": lambda _src, dst: metadata_marker_only(dst),
    "empty": lambda _src, dst: empty_file(dst),
}


def empty_file(dst: Path) -> Path:
    dst.write_bytes(b"")
    return dst


LOOKUPS = ["81.2.69.142", "2001:218::1", "200.160.1.1", "2400:cb00::1", "8.8.8.8", "1.1.1.1"]


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corrupt_database_is_refused_at_open_naming_the_file(
    city_db: Path, tmp_path: Path, kind: str
) -> None:
    bad = CORRUPTIONS[kind](city_db, tmp_path / "bad.mmdb")
    with pytest.raises(GeoDatabaseError) as caught:
        finishes_within(10, lambda: GeoIPDatabase(bad))
    message = str(caught.value)
    assert str(bad) in message
    assert "replace it" in message


def test_corrupt_record_raises_geo_database_error_on_lookup(city_db: Path, tmp_path: Path) -> None:
    bad = corrupt_data_section(city_db, tmp_path / "bad.mmdb")
    db = GeoIPDatabase(bad)
    with pytest.raises(GeoDatabaseError, match=r"corrupt record for 81\.2\.69\.142") as caught:
        finishes_within(10, lambda: db.lookup("81.2.69.142"))
    assert str(bad) in str(caught.value)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), flips=st.integers(1, 12))
def test_damaged_bytes_fail_only_with_geo_database_error(
    tmp_path: Path, seed: int, flips: int
) -> None:
    source = tmp_path / "source.mmdb"
    if not source.exists():
        write_city_db(source, PUBLIC + NON_PUBLIC)
    data = bytearray(source.read_bytes())
    rng = random.Random(seed)
    for _ in range(flips):
        data[rng.randrange(len(data))] = rng.randrange(256)
    damaged = tmp_path / "damaged.mmdb"
    damaged.write_bytes(bytes(data))

    def open_and_look_up() -> None:
        try:
            db = GeoIPDatabase(damaged)
        except GeoDatabaseError:
            return
        for ip in LOOKUPS:
            # Any outcome but an exception of another type (or a hang) is acceptable.
            with contextlib.suppress(GeoDatabaseError):
                db.lookup(ip)
        db.close()

    finishes_within(10, open_and_look_up)
