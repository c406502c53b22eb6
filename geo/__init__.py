"""Where things are: the cloud region catalog, great-circle distances, GeoIP2 lookups."""

from geo.distance import EARTH_MEAN_RADIUS_KM, great_circle_km
from geo.errors import (
    GeoDatabaseError,
    GeoError,
    InvalidAddressError,
    RegionCatalogError,
    UnknownRegionError,
)
from geo.geoip import GeoIPDatabase, Location
from geo.locate import ClientLocation, Locator
from geo.regions import Region, RegionCatalog, parse_region_key

__all__ = [
    "EARTH_MEAN_RADIUS_KM",
    "ClientLocation",
    "GeoDatabaseError",
    "GeoError",
    "GeoIPDatabase",
    "InvalidAddressError",
    "Location",
    "Locator",
    "Region",
    "RegionCatalog",
    "RegionCatalogError",
    "UnknownRegionError",
    "great_circle_km",
    "parse_region_key",
]
