"""The catalog of public cloud regions: where each AWS, GCP and Azure region is."""

import csv
import difflib
import io
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

from geo.distance import great_circle_km
from geo.errors import RegionCatalogError, UnknownRegionError

CLOUDS = ("aws", "gcp", "azure")
CONTINENTS = frozenset({"AF", "AN", "AS", "EU", "NA", "OC", "SA"})
_COLUMNS = ("cloud", "code", "city", "country", "continent", "latitude", "longitude")


@dataclass(frozen=True, slots=True)
class Region:
    """One cloud region, placed at the city its data centres are in or named after."""

    cloud: str
    code: str
    city: str
    country: str
    continent: str
    lat: float
    lon: float

    @property
    def key(self) -> str:
        return f"{self.cloud}:{self.code}"


def parse_region_key(key: str) -> tuple[str, str]:
    """Split ``"<cloud>:<code>"`` into its cloud and code."""
    cloud, sep, code = key.partition(":")
    if not sep or not cloud or not code:
        raise UnknownRegionError(
            f"region key {key!r} is not of the form '<cloud>:<code>'; "
            "write it like 'aws:us-east-1' or 'azure:westeurope'"
        )
    return cloud, code


class RegionCatalog:
    """All known regions, looked up by cloud and code or by distance from a point."""

    def __init__(self, regions: Iterable[Region]) -> None:
        by_key: dict[str, Region] = {}
        for region in regions:
            if region.key in by_key:
                raise RegionCatalogError(
                    f"region {region.key} appears twice in the catalog; keep one row for it"
                )
            by_key[region.key] = region
        self._by_key: Mapping[str, Region] = by_key

    @classmethod
    def load(cls) -> "RegionCatalog":
        """The catalog packaged with meshfed (``geo/data/regions.csv``)."""
        text = resources.files("geo").joinpath("data/regions.csv").read_text(encoding="utf-8")
        return cls(parse_regions_csv(text, source="geo/data/regions.csv"))

    def get(self, cloud: str, code: str) -> Region:
        region = self._by_key.get(f"{cloud}:{code}")
        if region is None:
            raise UnknownRegionError(self._unknown_message(cloud, code))
        return region

    def get_key(self, key: str) -> Region:
        return self.get(*parse_region_key(key))

    def regions(self, cloud: str | None = None) -> list[Region]:
        """Regions in catalog order, optionally only those of one cloud."""
        if cloud is not None and cloud not in CLOUDS:
            raise UnknownRegionError(_unknown_cloud_message(cloud))
        return [r for r in self._by_key.values() if cloud is None or r.cloud == cloud]

    def nearest(
        self,
        lat: float,
        lon: float,
        n: int = 1,
        cloud: str | None = None,
        keys: Collection[str] | None = None,
    ) -> list[tuple[Region, float]]:
        """The ``n`` regions closest to a point, closest first, with their distance in km.

        ``keys`` restricts the search to those regions (e.g. the ones clusters run in).
        Ties are broken by region key so the answer never depends on catalog order.
        """
        if n < 1:
            raise ValueError(f"nearest() needs n >= 1, got n={n}; ask for at least one region")
        pool = self.regions(cloud)
        if keys is not None:
            wanted = {self.get_key(k).key for k in keys}
            pool = [r for r in pool if r.key in wanted]
        ranked = sorted(
            ((r, great_circle_km(lat, lon, r.lat, r.lon)) for r in pool),
            key=lambda pair: (pair[1], pair[0].key),
        )
        return ranked[:n]

    def _unknown_message(self, cloud: str, code: str) -> str:
        if cloud not in CLOUDS:
            return _unknown_cloud_message(cloud)
        codes = [r.code for r in self.regions(cloud)]
        close = difflib.get_close_matches(code, codes, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        elsewhere = [c for c in CLOUDS if c != cloud and f"{c}:{code}" in self._by_key]
        if elsewhere:
            hint = f"{code!r} is in {elsewhere[0]}; write '{elsewhere[0]}:{code}'"
        if not hint:
            hint = f"use one of the {len(codes)} {cloud} region codes, e.g. {codes[0]!r}"
        return f"{cloud} has no region {code!r}; {hint}"


def _unknown_cloud_message(cloud: str) -> str:
    return f"unknown cloud {cloud!r}; use one of {', '.join(CLOUDS)}"


def parse_regions_csv(text: str, source: str) -> list[Region]:
    """Parse catalog rows; ``source`` names the file in error messages."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != _COLUMNS:
        raise RegionCatalogError(
            f"{source} has columns {reader.fieldnames}; the header must be {','.join(_COLUMNS)}"
        )
    return [_parse_row(row, source, reader.line_num) for row in reader]


def _parse_row(row: dict[str, str], source: str, line: int) -> Region:
    where = f"{source} line {line}"
    if row["cloud"] not in CLOUDS:
        raise RegionCatalogError(f"{where}: cloud {row['cloud']!r} is not one of {CLOUDS}")
    if row["continent"] not in CONTINENTS:
        raise RegionCatalogError(
            f"{where}: continent {row['continent']!r} is not one of {sorted(CONTINENTS)}"
        )
    country = row["country"]
    if len(country) != 2 or not country.isascii() or not country.isupper():
        raise RegionCatalogError(
            f"{where}: country {country!r} is not an ISO 3166-1 alpha-2 code like 'US'"
        )
    try:
        lat, lon = float(row["latitude"]), float(row["longitude"])
    except ValueError:
        raise RegionCatalogError(
            f"{where}: latitude/longitude {row['latitude']!r}/{row['longitude']!r} "
            "must be decimal degrees"
        ) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise RegionCatalogError(
            f"{where}: ({lat}, {lon}) is off the globe; latitude is within ±90, longitude ±180"
        )
    return Region(row["cloud"], row["code"], row["city"], country, row["continent"], lat, lon)
