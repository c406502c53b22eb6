from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo.distance import great_circle_km
from geo.errors import RegionCatalogError, UnknownRegionError
from geo.regions import CLOUDS, CONTINENTS, Region, RegionCatalog, parse_regions_csv

HEADER = "cloud,code,city,country,continent,latitude,longitude\n"


@pytest.mark.parametrize(("cloud", "at_least"), [("aws", 30), ("gcp", 40), ("azure", 55)])
def test_catalog_lists_every_public_region_of_each_cloud(
    catalog: RegionCatalog, cloud: str, at_least: int
) -> None:
    assert len(catalog.regions(cloud)) >= at_least


@pytest.mark.parametrize(
    ("key", "city", "country", "continent"),
    [
        ("aws:us-east-1", "Ashburn", "US", "NA"),
        ("aws:eu-west-1", "Dublin", "IE", "EU"),
        ("aws:ap-southeast-2", "Sydney", "AU", "OC"),
        ("aws:sa-east-1", "Sao Paulo", "BR", "SA"),
        ("aws:af-south-1", "Cape Town", "ZA", "AF"),
        ("gcp:europe-west1", "St. Ghislain", "BE", "EU"),
        ("gcp:asia-east1", "Changhua County", "TW", "AS"),
        ("gcp:us-central1", "Council Bluffs", "US", "NA"),
        ("azure:westeurope", "Amsterdam", "NL", "EU"),
        ("azure:northeurope", "Dublin", "IE", "EU"),
        ("azure:japaneast", "Tokyo", "JP", "AS"),
    ],
)
def test_well_known_regions_are_where_their_cloud_says(
    catalog: RegionCatalog, key: str, city: str, country: str, continent: str
) -> None:
    region = catalog.get_key(key)
    assert (region.city, region.country, region.continent) == (city, country, continent)


def test_regions_of_one_country_share_a_continent(catalog: RegionCatalog) -> None:
    continents: dict[str, set[str]] = defaultdict(set)
    for region in catalog.regions():
        continents[region.country].add(region.continent)
    assert {c: s for c, s in continents.items() if len(s) > 1} == {}


def test_regions_named_after_one_city_are_placed_together(catalog: RegionCatalog) -> None:
    by_city: dict[tuple[str, str], list[Region]] = defaultdict(list)
    for region in catalog.regions():
        by_city[region.city, region.country].append(region)
    for same_city in by_city.values():
        first = same_city[0]
        for other in same_city[1:]:
            assert great_circle_km(first.lat, first.lon, other.lat, other.lon) < 50, other.key


def test_every_region_is_in_its_own_cloud_listing(catalog: RegionCatalog) -> None:
    for cloud in CLOUDS:
        assert {r.cloud for r in catalog.regions(cloud)} == {cloud}
    assert len(catalog.regions()) == sum(len(catalog.regions(c)) for c in CLOUDS)


def test_get_and_get_key_find_the_same_region(catalog: RegionCatalog) -> None:
    region = catalog.get("gcp", "europe-west1")
    assert catalog.get_key("gcp:europe-west1") is region
    assert region.key == "gcp:europe-west1"


def test_unknown_code_suggests_close_codes_of_that_cloud(catalog: RegionCatalog) -> None:
    with pytest.raises(UnknownRegionError) as caught:
        catalog.get("aws", "us-east-3")
    message = str(caught.value)
    assert "'us-east-3'" in message and "did you mean" in message
    suggested = message.split("did you mean", 1)[1]
    assert "'us-east-1'" in suggested or "'us-east-2'" in suggested
    assert "europe" not in suggested


def test_code_of_another_cloud_names_that_cloud(catalog: RegionCatalog) -> None:
    with pytest.raises(UnknownRegionError, match="aws:us-east-1"):
        catalog.get("azure", "us-east-1")


@pytest.mark.parametrize("key", ["us-east-1", "aws:", ":us-east-1", ""])
def test_malformed_key_shows_the_expected_form(catalog: RegionCatalog, key: str) -> None:
    with pytest.raises(UnknownRegionError, match="<cloud>:<code>"):
        catalog.get_key(key)


def test_unknown_cloud_lists_the_known_clouds(catalog: RegionCatalog) -> None:
    with pytest.raises(UnknownRegionError, match=r"'oci'.*aws, gcp, azure"):
        catalog.get_key("oci:us-ashburn-1")
    with pytest.raises(UnknownRegionError, match="'oci'"):
        catalog.regions("oci")


def test_nearest_to_london_is_a_london_region(catalog: RegionCatalog) -> None:
    [(region, km)] = catalog.nearest(51.5074, -0.1278)
    assert (region.city, region.country) == ("London", "GB")
    assert km < 5


def test_nearest_lists_n_regions_closest_first(catalog: RegionCatalog) -> None:
    ranked = catalog.nearest(50.0, 8.0, n=5)
    assert len(ranked) == 5
    assert [km for _, km in ranked] == sorted(km for _, km in ranked)


def test_nearest_within_one_cloud(catalog: RegionCatalog) -> None:
    [(region, _)] = catalog.nearest(35.68, 139.69, cloud="gcp")
    assert region.key == "gcp:asia-northeast1"


def test_nearest_among_given_keys_ignores_closer_regions(catalog: RegionCatalog) -> None:
    keys = ["aws:us-east-1", "azure:westeurope"]
    [(region, _)] = catalog.nearest(51.5074, -0.1278, keys=keys)
    assert region.key == "azure:westeurope"


def test_nearest_rejects_unknown_keys_and_n_below_one(catalog: RegionCatalog) -> None:
    with pytest.raises(UnknownRegionError):
        catalog.nearest(0, 0, keys=["aws:moon-1"])
    with pytest.raises(ValueError, match="n=0"):
        catalog.nearest(0, 0, n=0)


@given(
    st.floats(min_value=-90, max_value=90, allow_nan=False),
    st.floats(min_value=-180, max_value=180, allow_nan=False),
)
def test_no_region_is_closer_than_the_nearest(
    catalog: RegionCatalog, lat: float, lon: float
) -> None:
    [(_, best)] = catalog.nearest(lat, lon)
    assert all(great_circle_km(lat, lon, r.lat, r.lon) >= best for r in catalog.regions())


def test_catalog_refuses_a_region_listed_twice() -> None:
    region = Region("aws", "us-east-1", "Ashburn", "US", "NA", 39.0, -77.5)
    with pytest.raises(RegionCatalogError, match="aws:us-east-1"):
        RegionCatalog([region, region])


@pytest.mark.parametrize(
    ("row", "complaint"),
    [
        ("oci,x,Y,US,NA,1,1", "cloud 'oci'"),
        ("aws,x,Y,US,XX,1,1", "continent 'XX'"),
        ("aws,x,Y,USA,NA,1,1", "country 'USA'"),
        ("aws,x,Y,us,NA,1,1", "country 'us'"),
        ("aws,x,Y,US,NA,north,1", "'north'"),
        ("aws,x,Y,US,NA,91,1", "off the globe"),
        ("aws,x,Y,US,NA,1,181", "off the globe"),
    ],
)
def test_malformed_catalog_rows_name_the_line_and_value(row: str, complaint: str) -> None:
    with pytest.raises(RegionCatalogError, match=r"regions\.csv line 2") as caught:
        parse_regions_csv(HEADER + row + "\n", source="regions.csv")
    assert complaint in str(caught.value)


def test_catalog_with_wrong_columns_shows_the_expected_header() -> None:
    with pytest.raises(RegionCatalogError, match="cloud,code,city"):
        parse_regions_csv("cloud,code\naws,us-east-1\n", source="regions.csv")


def test_packaged_rows_use_known_continents(catalog: RegionCatalog) -> None:
    assert {r.continent for r in catalog.regions()} <= CONTINENTS
    assert {r.continent for r in catalog.regions()} >= {"AF", "AS", "EU", "NA", "OC", "SA"}
