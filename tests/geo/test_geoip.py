import os
from pathlib import Path

import maxminddb
import pytest

from geo.errors import GeoDatabaseError, InvalidAddressError
from geo.geoip import GeoIPDatabase
from tests.geo.conftest import LONDON, SYDNEY, TOKYO
from tests.support.mmdb_factory import CityEntry, write_city_db, write_country_db


@pytest.mark.parametrize(
    ("ip", "entry"),
    [("81.2.69.142", LONDON), ("2001:218::7", TOKYO), ("2400:cb00:1::1", SYDNEY)],
)
def test_lookup_returns_the_city_record_of_the_network(
    city_db: Path, ip: str, entry: CityEntry
) -> None:
    with GeoIPDatabase(city_db) as db:
        found = db.lookup(ip)
    assert found is not None
    assert (found.city, found.country, found.continent) == (
        entry.city,
        entry.country,
        entry.continent,
    )
    assert (found.lat, found.lon, found.accuracy_radius) == (
        entry.lat,
        entry.lon,
        entry.accuracy_radius,
    )
    assert found.database_type == "GeoIP2-City"


def test_ipv4_mapped_ipv6_address_finds_the_ipv4_record(city_db: Path) -> None:
    with GeoIPDatabase(city_db) as db:
        mapped = db.lookup("::ffff:81.2.69.142")
    assert mapped is not None and mapped.city == LONDON.city


@pytest.mark.parametrize("ip", ["8.8.8.8", "2a00:1450::1"])
def test_address_missing_from_the_database_has_no_location(city_db: Path, ip: str) -> None:
    with GeoIPDatabase(city_db) as db:
        assert db.lookup(ip) is None


@pytest.mark.parametrize(
    "ip",
    ["10.1.2.3", "127.0.0.1", "169.254.1.1", "100.64.0.9", "240.1.2.3", "fd12::1", "fe80::9"],
)
def test_non_public_address_has_no_location_even_if_the_database_lists_it(
    city_db: Path, ip: str
) -> None:
    with maxminddb.open_database(str(city_db)) as raw:
        assert raw.get(ip) is not None, "the test database should list this network"
    with GeoIPDatabase(city_db) as db:
        assert db.lookup(ip) is None


def test_non_ip_string_raises_invalid_address_naming_it(city_db: Path) -> None:
    with GeoIPDatabase(city_db) as db, pytest.raises(InvalidAddressError, match="'not-an-ip'"):
        db.lookup("not-an-ip")


def test_country_database_gives_country_without_coordinates(tmp_path: Path) -> None:
    path = write_country_db(tmp_path / "country.mmdb", [("81.2.69.0/24", "GB", "EU")])
    with GeoIPDatabase(path) as db:
        found = db.lookup("81.2.69.142")
    assert found is not None
    assert (found.country, found.continent) == ("GB", "EU")
    assert (found.lat, found.lon, found.city) == (None, None, None)
    assert found.database_type == "GeoIP2-Country"


def test_database_without_locations_is_refused_naming_its_type(tmp_path: Path) -> None:
    path = write_city_db(tmp_path / "asn.mmdb", [LONDON], database_type="GeoLite2-ASN")
    with pytest.raises(GeoDatabaseError, match="'GeoLite2-ASN'") as caught:
        GeoIPDatabase(path)
    assert str(path) in str(caught.value)


def test_missing_database_names_the_file_and_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "absent.mmdb"
    with pytest.raises(GeoDatabaseError, match="does not exist") as caught:
        GeoIPDatabase(path)
    assert str(path) in str(caught.value) and "geoip.city_db" in str(caught.value)


def test_directory_instead_of_database_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(GeoDatabaseError, match="cannot be read") as caught:
        GeoIPDatabase(tmp_path)
    assert str(tmp_path) in str(caught.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_database_without_read_permission_is_unreadable(city_db: Path) -> None:
    city_db.chmod(0)
    with pytest.raises(GeoDatabaseError, match="cannot be read"):
        GeoIPDatabase(city_db)


def test_lookup_after_close_is_refused(city_db: Path) -> None:
    db = GeoIPDatabase(city_db)
    db.close()
    with pytest.raises(GeoDatabaseError, match="closed"):
        db.lookup("81.2.69.142")


def test_negative_check_interval_is_refused(city_db: Path) -> None:
    with pytest.raises(ValueError, match="check_interval=-1"):
        GeoIPDatabase(city_db, check_interval=-1)
