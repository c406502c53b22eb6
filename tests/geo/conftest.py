from pathlib import Path

import pytest

from geo.regions import RegionCatalog
from tests.support.mmdb_factory import CityEntry, write_city_db

LONDON = CityEntry("81.2.69.0/24", "London", "GB", "EU", 51.5142, -0.0931, 10)
TOKYO = CityEntry("2001:218::/32", "Tokyo", "JP", "AS", 35.6854, 139.7531, 100)
SAO_PAULO = CityEntry("200.160.0.0/20", "Sao Paulo", "BR", "SA", -23.5475, -46.6361, 50)
SYDNEY = CityEntry("2400:cb00::/32", "Sydney", "AU", "OC", -33.8678, 151.2073, 20)
# Networks no public lookup may answer from, filled so that only the address check keeps
# them out (without it, these records would come back).
NON_PUBLIC = [
    CityEntry("10.0.0.0/8", "Private", "ZZ", "EU", 1.0, 1.0),
    CityEntry("127.0.0.0/8", "Loopback", "ZZ", "EU", 1.0, 1.0),
    CityEntry("169.254.0.0/16", "LinkLocal", "ZZ", "EU", 1.0, 1.0),
    CityEntry("100.64.0.0/10", "Shared", "ZZ", "EU", 1.0, 1.0),
    CityEntry("240.0.0.0/4", "Reserved", "ZZ", "EU", 1.0, 1.0),
    CityEntry("fc00::/7", "UniqueLocal", "ZZ", "EU", 1.0, 1.0),
    CityEntry("fe80::/10", "LinkLocal6", "ZZ", "EU", 1.0, 1.0),
]
PUBLIC = [LONDON, TOKYO, SAO_PAULO, SYDNEY]


@pytest.fixture(scope="session")
def catalog() -> RegionCatalog:
    return RegionCatalog.load()


@pytest.fixture
def city_db(tmp_path: Path) -> Path:
    return write_city_db(tmp_path / "city.mmdb", PUBLIC + NON_PUBLIC)
