import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo.distance import EARTH_MEAN_RADIUS_KM, great_circle_km
from geo.regions import RegionCatalog

latitudes = st.floats(min_value=-90, max_value=90, allow_nan=False)
longitudes = st.floats(min_value=-180, max_value=180, allow_nan=False)
points = st.tuples(latitudes, longitudes)
HALF_CIRCUMFERENCE_KM = math.pi * EARTH_MEAN_RADIUS_KM


def between(catalog: RegionCatalog, a: str, b: str) -> float:
    ra, rb = catalog.get_key(a), catalog.get_key(b)
    return great_circle_km(ra.lat, ra.lon, rb.lat, rb.lon)


def test_virginia_to_dublin_is_about_5500_km(catalog: RegionCatalog) -> None:
    assert 5400 <= between(catalog, "aws:us-east-1", "aws:eu-west-1") <= 5600


def test_belgium_to_amsterdam_is_a_few_hundred_km(catalog: RegionCatalog) -> None:
    assert 100 <= between(catalog, "gcp:europe-west1", "azure:westeurope") <= 400


def test_sydney_to_sao_paulo_is_more_than_13000_km(catalog: RegionCatalog) -> None:
    assert 13000 <= between(catalog, "aws:ap-southeast-2", "gcp:southamerica-east1") <= 14000


@pytest.mark.parametrize("key", ["aws:us-east-1", "gcp:europe-west1", "azure:westeurope"])
def test_a_region_is_zero_km_from_itself(catalog: RegionCatalog, key: str) -> None:
    assert between(catalog, key, key) == 0


def test_pole_to_equator_is_a_quarter_meridian_of_the_mean_sphere() -> None:
    assert great_circle_km(90, 0, 0, 0) == pytest.approx(10007.557, abs=0.01)


def test_antipodes_are_half_a_circumference_apart() -> None:
    assert great_circle_km(0, 0, 0, 180) == pytest.approx(HALF_CIRCUMFERENCE_KM)
    assert great_circle_km(45, 10, -45, -170) == pytest.approx(HALF_CIRCUMFERENCE_KM)


@given(points, points)
def test_distance_is_symmetric_and_within_half_a_circumference(
    a: tuple[float, float], b: tuple[float, float]
) -> None:
    d = great_circle_km(*a, *b)
    assert d == pytest.approx(great_circle_km(*b, *a), abs=1e-6)
    assert 0 <= d <= HALF_CIRCUMFERENCE_KM + 1e-6


@given(points, points, points)
def test_distance_obeys_the_triangle_inequality(
    a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]
) -> None:
    assert great_circle_km(*a, *c) <= great_circle_km(*a, *b) + great_circle_km(*b, *c) + 1e-6


@given(points)
def test_a_point_is_zero_km_from_itself(a: tuple[float, float]) -> None:
    assert great_circle_km(*a, *a) == pytest.approx(0, abs=1e-6)
