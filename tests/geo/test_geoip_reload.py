import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from geo.errors import GeoDatabaseError
from geo.geoip import GeoIPDatabase
from tests.support.mmdb_factory import CityEntry, corrupt_search_tree, write_city_db

NETWORK = "81.2.69.0/24"
CLIENT = "81.2.69.142"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def city_version(tmp_path: Path, city: str) -> Path:
    return write_city_db(tmp_path / f"{city}.mmdb", [CityEntry(NETWORK, city, "GB", "EU", 51, 0)])


def publish(version: Path, live: Path) -> None:
    """Replace the live file the way geoipupdate does: write beside it, then rename over it."""
    staging = live.with_suffix(".tmp")
    shutil.copyfile(version, staging)
    os.replace(staging, live)


def city_of(db: GeoIPDatabase) -> str | None:
    found = db.lookup(CLIENT)
    assert found is not None
    return found.city


@pytest.fixture
def live(tmp_path: Path) -> Path:
    path = tmp_path / "live.mmdb"
    publish(city_version(tmp_path, "London"), path)
    return path


def test_reload_on_demand_serves_the_replacement(tmp_path: Path, live: Path) -> None:
    db = GeoIPDatabase(live)
    publish(city_version(tmp_path, "Paris"), live)
    assert city_of(db) == "London"
    assert db.reload_if_changed() is True
    assert city_of(db) == "Paris"
    assert db.reload_if_changed() is False


def test_file_rewritten_in_place_is_reloaded(tmp_path: Path, live: Path) -> None:
    db = GeoIPDatabase(live)
    live.write_bytes(city_version(tmp_path, "Manchester").read_bytes())
    assert db.reload_if_changed() is True
    assert city_of(db) == "Manchester"


def test_lookups_check_for_a_new_file_once_the_interval_has_passed(
    tmp_path: Path, live: Path
) -> None:
    clock = FakeClock()
    db = GeoIPDatabase(live, check_interval=30, clock=clock)
    publish(city_version(tmp_path, "Paris"), live)
    clock.now += 29
    assert city_of(db) == "London"
    clock.now += 1
    assert city_of(db) == "Paris"


def test_corrupt_replacement_keeps_the_old_data_and_records_why(tmp_path: Path, live: Path) -> None:
    db = GeoIPDatabase(live)
    corrupt = corrupt_search_tree(city_version(tmp_path, "Paris"), tmp_path / "bad.mmdb")
    publish(corrupt, live)
    assert db.reload_if_changed() is False
    assert city_of(db) == "London"
    assert isinstance(db.last_error, GeoDatabaseError)
    assert str(live) in str(db.last_error)

    publish(city_version(tmp_path, "Paris"), live)
    assert db.reload_if_changed() is True
    assert city_of(db) == "Paris"
    assert db.last_error is None


def test_corrupt_replacement_found_by_a_lookup_keeps_the_old_data(
    tmp_path: Path, live: Path
) -> None:
    clock = FakeClock()
    db = GeoIPDatabase(live, check_interval=5, clock=clock)
    publish(corrupt_search_tree(live, tmp_path / "bad.mmdb"), live)
    clock.now += 5
    assert city_of(db) == "London"
    assert db.last_error is not None


def test_vanished_file_keeps_the_old_data_and_records_why(live: Path) -> None:
    db = GeoIPDatabase(live)
    live.unlink()
    assert db.reload_if_changed() is False
    assert city_of(db) == "London"
    assert db.last_error is not None and "cannot be checked" in str(db.last_error)


def test_lookups_never_fail_while_the_file_is_swapped_under_them(
    tmp_path: Path, live: Path
) -> None:
    versions = [city_version(tmp_path, city) for city in ("London", "Paris", "Berlin")]
    # check_interval=0: lookup threads race the explicit reloads for the swap as well.
    db = GeoIPDatabase(live, check_interval=0)
    stop = threading.Event()
    seen: list[str | None] = []
    failures: list[BaseException] = []

    def look_up_until_stopped() -> None:
        while not stop.is_set():
            try:
                found = db.lookup(CLIENT)
                seen.append(found.city if found else None)
            except BaseException as exc:
                failures.append(exc)

    workers = [threading.Thread(target=look_up_until_stopped) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        for swap in range(30):
            publish(versions[swap % len(versions)], live)
            db.reload_if_changed()
            wait_for_more_lookups(seen, at_least=len(seen) + 20)
    finally:
        stop.set()
        for worker in workers:
            worker.join(10)
    assert failures == []
    assert set(seen) == {"London", "Paris", "Berlin"}


def wait_for_more_lookups(seen: list[str | None], at_least: int) -> None:
    deadline = time.monotonic() + 10
    while len(seen) < at_least:
        assert time.monotonic() < deadline, "lookup threads stopped making progress"
        time.sleep(0.001)


def test_rejected_file_is_not_reopened_until_it_changes(tmp_path: Path, live: Path) -> None:
    db = GeoIPDatabase(live)
    publish(corrupt_search_tree(live, tmp_path / "bad.mmdb"), live)
    db.reload_if_changed()
    first_error = db.last_error
    assert db.reload_if_changed() is False
    assert db.last_error is first_error


def test_closed_database_does_not_reopen_a_replacement(tmp_path: Path, live: Path) -> None:
    db = GeoIPDatabase(live)
    db.close()
    publish(city_version(tmp_path, "Paris"), live)
    assert db.reload_if_changed() is False
    with pytest.raises(GeoDatabaseError, match="closed"):
        db.lookup(CLIENT)
