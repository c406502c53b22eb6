"""Placing a client on the map: by its IP through GeoIP2, or by the region it names."""

from collections.abc import Collection
from dataclasses import dataclass
from statistics import fmean
from typing import Literal

from geo.addresses import parse_ip, unroutable_reason
from geo.errors import GeoDatabaseError
from geo.geoip import GeoIPDatabase
from geo.regions import Region, RegionCatalog

LocationSource = Literal["geoip", "region", "default"]


@dataclass(frozen=True, slots=True)
class ClientLocation:
    """Where a client is, the catalog region nearest to it, and a sentence saying how we know."""

    lat: float
    lon: float
    country: str
    continent: str
    city: str | None
    region_key: str
    region_distance_km: float
    source: LocationSource
    description: str


@dataclass(frozen=True, slots=True)
class _Point:
    lat: float
    lon: float
    country: str
    continent: str
    city: str | None


class Locator:
    """Turns a client IP or region key into a ClientLocation, falling back to a default."""

    def __init__(
        self,
        catalog: RegionCatalog,
        database: GeoIPDatabase | None,
        default_region_key: str,
    ) -> None:
        self._catalog = catalog
        self._database = database
        self._default = catalog.get_key(default_region_key)

    def locate_region(self, key: str) -> ClientLocation:
        region = self._catalog.get_key(key)
        return _at_region(region, "region", f"client located at region {_named(region)}")

    def locate_ip(
        self, ip: str, candidate_regions: Collection[str] | None = None
    ) -> ClientLocation:
        """Where ``ip`` is; when GeoIP2 cannot say, the default location with the reason.

        ``candidate_regions`` (region keys, e.g. the regions this service's clusters run in)
        restricts which region the client is matched to; None means the whole catalog.
        Raises InvalidAddressError when ``ip`` is not an IP address, UnknownRegionError for
        an unknown candidate and ValueError for an empty collection of them.
        """
        self._check_candidates(candidate_regions)
        reason = unroutable_reason(parse_ip(ip))
        if reason is not None:
            article = "an" if reason[0] in "aeiou" else "a"
            return self._fallback(f"{ip} is {article} {reason} address")
        if self._database is None:
            return self._fallback(f"no GeoIP2 database is configured to place {ip}")
        try:
            found = self._database.lookup(ip)
        except GeoDatabaseError as exc:
            return self._fallback(f"GeoIP2 lookup of {ip} failed: {exc}")
        label = self._database.database_type.replace("-", " ")
        if found is None or found.country is None or found.continent is None:
            return self._fallback(f"{ip} is not in the {label} database")
        place = ", ".join(part for part in (found.city, found.country) if part)
        if found.lat is not None and found.lon is not None:
            point = _Point(found.lat, found.lon, found.country, found.continent, found.city)
            return self._near(point, candidate_regions, f"client located by {label}: {place}")
        return self._in_country(ip, found.country, found.continent, label, candidate_regions)

    def _in_country(
        self,
        ip: str,
        country: str,
        continent: str,
        label: str,
        candidate_regions: Collection[str] | None,
    ) -> ClientLocation:
        # A Country database has no coordinates; the middle of the country's cloud regions
        # stands in for the client, which is as precise as the catalog needs.
        in_country = [r for r in self._catalog.regions() if r.country == country]
        if not in_country:
            return self._fallback(f"{label} places {ip} in {country}, which has no cloud region")
        lat, lon = fmean(r.lat for r in in_country), fmean(r.lon for r in in_country)
        return self._near(
            _Point(lat, lon, country, continent, None),
            candidate_regions,
            f"client located by {label}: {country} (at the centre of its cloud regions; "
            "the database has no coordinates)",
        )

    def _check_candidates(self, candidate_regions: Collection[str] | None) -> None:
        if candidate_regions is None:
            return
        if not candidate_regions:
            raise ValueError(
                "candidate_regions is empty; pass None to consider every catalog region"
            )
        for key in candidate_regions:
            self._catalog.get_key(key)

    def _near(
        self, point: _Point, candidate_regions: Collection[str] | None, description: str
    ) -> ClientLocation:
        [(region, distance)] = self._catalog.nearest(
            point.lat, point.lon, n=1, keys=candidate_regions
        )
        return ClientLocation(
            lat=point.lat,
            lon=point.lon,
            country=point.country,
            continent=point.continent,
            city=point.city,
            region_key=region.key,
            region_distance_km=distance,
            source="geoip",
            description=f"{description}; nearest region {region.key} ({distance:.0f} km)",
        )

    def _fallback(self, why: str) -> ClientLocation:
        return _at_region(
            self._default, "default", f"{why}; using the default location {self._default.key}"
        )


def _at_region(region: Region, source: LocationSource, description: str) -> ClientLocation:
    return ClientLocation(
        lat=region.lat,
        lon=region.lon,
        country=region.country,
        continent=region.continent,
        city=region.city,
        region_key=region.key,
        region_distance_km=0.0,
        source=source,
        description=description,
    )


def _named(region: Region) -> str:
    return f"{region.key} ({region.city}, {region.country})"
