from pathlib import Path

import pytest

from geo.errors import InvalidAddressError, UnknownRegionError
from geo.geoip import GeoIPDatabase
from geo.locate import Locator
from geo.regions import RegionCatalog
from tests.geo.conftest import LONDON, TOKYO
from tests.support.mmdb_factory import corrupt_data_section, write_country_db

DEFAULT = "aws:us-east-1"


@pytest.fixture
def locator(catalog: RegionCatalog, city_db: Path) -> Locator:
    return Locator(catalog, GeoIPDatabase(city_db), DEFAULT)


def test_client_ip_is_placed_by_geoip_at_its_city(locator: Locator) -> None:
    client = locator.locate_ip("81.2.69.142")
    assert client.source == "geoip"
    assert (client.lat, client.lon) == (LONDON.lat, LONDON.lon)
    assert (client.country, client.continent, client.city) == ("GB", "EU", "London")
    assert client.description.startswith("client located by GeoIP2 City: London, GB")


def test_geoip_client_is_matched_to_the_region_in_its_city(
    locator: Locator, catalog: RegionCatalog
) -> None:
    client = locator.locate_ip("81.2.69.142")
    region = catalog.get_key(client.region_key)
    assert (region.city, region.country) == ("London", "GB")
    assert client.region_distance_km < 20
    assert client.region_key in client.description


def test_ipv6_client_is_placed_by_geoip(locator: Locator, catalog: RegionCatalog) -> None:
    client = locator.locate_ip("2001:218::1")
    assert (client.source, client.lat, client.lon) == ("geoip", TOKYO.lat, TOKYO.lon)
    assert catalog.get_key(client.region_key).city == "Tokyo"


def test_candidate_regions_restrict_the_match_to_where_clusters_run(locator: Locator) -> None:
    client = locator.locate_ip("81.2.69.142", candidate_regions=[DEFAULT, "gcp:europe-west1"])
    assert client.region_key == "gcp:europe-west1"
    assert client.region_distance_km > 200
    assert (client.lat, client.lon) == (LONDON.lat, LONDON.lon)


def test_candidate_regions_must_be_known_and_not_empty(locator: Locator) -> None:
    with pytest.raises(UnknownRegionError, match="us-east-9"):
        locator.locate_ip("81.2.69.142", candidate_regions=["aws:us-east-9"])
    with pytest.raises(ValueError, match="candidate_regions is empty"):
        locator.locate_ip("81.2.69.142", candidate_regions=[])


@pytest.mark.parametrize(
    ("ip", "words"),
    [
        ("10.1.2.3", "10.1.2.3 is a private address"),
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("fe80::1", "fe80::1 is a link-local address"),
        ("8.8.8.8", "8.8.8.8 is not in the GeoIP2 City database"),
    ],
)
def test_unplaceable_client_gets_the_default_location_and_the_reason(
    locator: Locator, catalog: RegionCatalog, ip: str, words: str
) -> None:
    client = locator.locate_ip(ip)
    default = catalog.get_key(DEFAULT)
    assert (client.source, client.region_key) == ("default", DEFAULT)
    assert (client.lat, client.lon, client.country) == (default.lat, default.lon, default.country)
    assert client.description == f"{words}; using the default location {DEFAULT}"


def test_without_a_database_every_client_gets_the_default(catalog: RegionCatalog) -> None:
    client = Locator(catalog, None, "gcp:europe-west1").locate_ip("81.2.69.142")
    assert (client.source, client.region_key) == ("default", "gcp:europe-west1")
    assert "no GeoIP2 database" in client.description


def test_corrupt_record_falls_back_to_the_default_and_says_so(
    catalog: RegionCatalog, city_db: Path, tmp_path: Path
) -> None:
    broken = GeoIPDatabase(corrupt_data_section(city_db, tmp_path / "broken.mmdb"))
    client = Locator(catalog, broken, DEFAULT).locate_ip("81.2.69.142")
    assert client.source == "default"
    assert "corrupt" in client.description and str(tmp_path) in client.description


def test_country_database_places_client_among_its_country_regions(
    catalog: RegionCatalog, tmp_path: Path
) -> None:
    path = write_country_db(tmp_path / "country.mmdb", [("81.2.69.0/24", "GB", "EU")])
    client = Locator(catalog, GeoIPDatabase(path), DEFAULT).locate_ip("81.2.69.142")
    assert (client.source, client.country, client.continent) == ("geoip", "GB", "EU")
    assert catalog.get_key(client.region_key).country == "GB"
    assert "GeoIP2 Country: GB" in client.description


def test_country_without_cloud_regions_falls_back_to_the_default(
    catalog: RegionCatalog, tmp_path: Path
) -> None:
    path = write_country_db(tmp_path / "country.mmdb", [("81.2.69.0/24", "IS", "EU")])
    client = Locator(catalog, GeoIPDatabase(path), DEFAULT).locate_ip("81.2.69.142")
    assert (client.source, client.region_key) == ("default", DEFAULT)
    assert "IS" in client.description


def test_region_client_is_placed_at_that_region(locator: Locator, catalog: RegionCatalog) -> None:
    client = locator.locate_region("azure:westeurope")
    region = catalog.get_key("azure:westeurope")
    assert (client.source, client.region_key) == ("region", "azure:westeurope")
    assert (client.lat, client.lon, client.country) == (region.lat, region.lon, "NL")
    assert client.description == "client located at region azure:westeurope (Amsterdam, NL)"


def test_unknown_region_or_default_is_refused(catalog: RegionCatalog, locator: Locator) -> None:
    with pytest.raises(UnknownRegionError, match="westeurop"):
        locator.locate_region("azure:westeurop")
    with pytest.raises(UnknownRegionError, match="us-east-9"):
        Locator(catalog, None, "aws:us-east-9")


def test_non_ip_client_is_refused_by_name(locator: Locator) -> None:
    with pytest.raises(InvalidAddressError, match="'client-7'"):
        locator.locate_ip("client-7")
